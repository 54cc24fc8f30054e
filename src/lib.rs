//! nestci: a CI job runner that runs each job's steps in containers it
//! creates itself.
//!
//! Data flows one way: [`dialect`] reads a file into the [`model`];
//! [`plan`] turns it into a DAG of the jobs to run; [`run`] schedules them
//! on a [`backend`]. The [`yaml`] layer underneath gives every value its
//! source location, which [`diag`] renders for humans.

pub mod backend;
pub mod cli;
pub mod diag;
pub mod dialect;
pub mod doctor;
pub mod model;
pub mod plan;
pub mod policy;
pub mod run;
pub mod secrets;
pub mod yaml;
