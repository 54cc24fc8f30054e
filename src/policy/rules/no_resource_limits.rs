//! NCI027: no memory or pids limit.

use super::prelude::*;

pub struct NoResourceLimits;

static META: RuleMeta = RuleMeta {
    id: "NCI027",
    name: "no-resource-limits",
    severity: Severity::Low,
    title: "no memory or pids limit",
    risk: "Without limits a step (or a fork bomb in a dependency's test) can exhaust the \
           host's memory or process table and take down the runner and every other job.",
    safer: "Set `resources: {memory: 2G, pids: 1024}` (sized for the job).",
    reference: "CIS Docker Benchmark v1.2.0 5.10 (memory), 5.28 (PIDs cgroup limit)",
    help_uri: None,
};

impl Rule for NoResourceLimits {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, job: &Job, _cx: &Context, out: &mut Vec<Hit>) {
        let missing: Vec<&str> = [
            ("memory", job.resources.memory.is_none()),
            ("pids", job.resources.pids.is_none()),
        ]
        .into_iter()
        .filter_map(|(name, missing)| missing.then_some(name))
        .collect();
        if !missing.is_empty() {
            out.push(Hit::new(
                &job.loc,
                format!("job `{}` has no {} limit", job.name, missing.join(" or ")),
            ));
        }
    }
}
