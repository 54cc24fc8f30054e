//! Planning: the DAG of jobs to run.
