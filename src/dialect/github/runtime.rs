//! What a workflow leaves to run time, and how it is decided then.
//!
//! While loading, every `${{ }}` is evaluated with the contexts known
//! before the run. Three contexts are not: `steps` (the outputs and
//! outcomes of earlier steps), `needs` (the outputs and results of the
//! jobs a job needs), and the `env` a step sees, which earlier steps may
//! change through `$GITHUB_ENV`. A value that reads one of them is kept
//! as written (with what is known filled in, so `nestci list` shows
//! `echo ${{ steps.v.outputs.version }}`), and the model's step or job
//! gets a [`StepDeferred`] / [`JobDeferred`] holding the text as written
//! and the load-time contexts. The runner calls them with the
//! [`RunState`], and they evaluate the text again with `steps`, `needs`
//! and `env` filled in from it.
//!
//! The job's step files are GitHub's: `GITHUB_ENV`, `GITHUB_OUTPUT`,
//! `GITHUB_PATH` and `GITHUB_STEP_SUMMARY` ([`step_files`]).

use std::sync::{Arc, Mutex};

use serde_json::{Map, Value as Json, json};

use super::expr::{self, Contexts, JobStatus};
use crate::model::{
    Conclusion, Env, Job, JobTemplate, NeedState, RunState, Step, StepFiles, StepTemplate,
};

/// Contexts whose `${{ }}` stay as written until run time.
pub const KEPT: &[&str] = &["steps", "needs"];
/// Contexts that make a step's value be evaluated again at run time
/// (`env` may have changed through `$GITHUB_ENV`).
pub const STEP_RUNTIME: &[&str] = &["steps", "needs", "env"];
/// Contexts that make a job's value wait for the jobs it needs.
pub const JOB_RUNTIME: &[&str] = &["needs"];

/// The files a GitHub job offers its steps.
pub fn step_files() -> StepFiles {
    StepFiles {
        env: Some("GITHUB_ENV".into()),
        output: Some("GITHUB_OUTPUT".into()),
        path: Some("GITHUB_PATH".into()),
        summary: Some("GITHUB_STEP_SUMMARY".into()),
    }
}

/// The outputs of a call of a reusable workflow (`jobs.<caller>.uses`),
/// declared in its `on.workflow_call.outputs` from the `jobs` context of
/// the called workflow (`value: ${{ jobs.build.outputs.version }}`).
/// They exist once the called jobs have run; a job needing the caller
/// reads them as `needs.<caller>.outputs.<name>`.
#[derive(Debug, Clone)]
pub struct CallOutputs {
    /// The calling job's id: what `needs.<caller>` names.
    pub caller: String,
    /// What the called jobs' templates start with (`Caller name / `).
    pub prefix: String,
    /// Each output's name and `value` as written.
    pub outputs: Vec<(String, String)>,
    /// The called workflow's load-time contexts (`inputs`, ...).
    pub cx: Arc<Contexts>,
}

/// Every call of the workflow, filled while its jobs are read and shared
/// by the deferred parts of every job: a job may be read before the job
/// it needs.
pub type Calls = Arc<Mutex<Vec<CallOutputs>>>;

/// The parts of one step decided at run time: each is the text as
/// written, `None` when it was decided at load time.
#[derive(Debug, Default, Clone)]
pub struct StepDeferred {
    pub cx: Arc<Contexts>,
    /// The workflow's reusable-workflow calls, for `needs.<caller>`.
    pub calls: Calls,
    pub condition: Option<String>,
    pub name: Option<String>,
    pub run: Option<String>,
    /// Deferred entries of the step's `env`, by name.
    pub env: Vec<(String, String)>,
    pub workdir: Option<String>,
}

impl StepDeferred {
    pub fn is_empty(&self) -> bool {
        self.condition.is_none()
            && self.name.is_none()
            && self.run.is_none()
            && self.env.is_empty()
            && self.workdir.is_none()
    }
}

/// `cx` with the run-time contexts from `state`; `env` is the job's env
/// now with the step's own on top.
fn runtime_contexts(
    cx: &Contexts,
    calls: &Calls,
    state: &RunState,
    step_env: Option<&Env>,
) -> Contexts {
    let mut cx = cx.clone();
    cx.set("steps", steps_json(state));
    let mut needs = needs_json(state);
    if let (Json::Object(needs), Ok(calls)) = (&mut needs, calls.lock()) {
        for call in calls.iter() {
            if let Some(entry) = call_json(call, state) {
                needs.insert(call.caller.clone(), entry);
            }
        }
    }
    cx.set("needs", needs);
    let env = match step_env {
        Some(e) => state.env.with(e),
        None => state.env.clone(),
    };
    cx.set(
        "env",
        Json::Object(
            env.iter()
                .map(|v| (v.name.clone(), Json::String(v.value.clone())))
                .collect(),
        ),
    );
    cx.status = match state.status {
        Conclusion::Success | Conclusion::Skipped => JobStatus::Success,
        Conclusion::Failure => JobStatus::Failure,
        Conclusion::Cancelled => JobStatus::Cancelled,
    };
    cx
}

/// `steps.<id>.outputs.<name>`, `.outcome`, `.conclusion`.
fn steps_json(state: &RunState) -> Json {
    let mut out = Map::new();
    for s in &state.steps {
        let Some(id) = &s.id else { continue };
        let outputs: Map<String, Json> = s
            .outputs
            .iter()
            .map(|(k, v)| (k.clone(), Json::String(v.clone())))
            .collect();
        out.insert(
            id.clone(),
            json!({
                "outputs": outputs,
                "outcome": s.outcome.as_str(),
                "conclusion": s.conclusion.as_str(),
            }),
        );
    }
    Json::Object(out)
}

/// `needs.<id>.outputs.<name>` and `.result`, by job id. The variants of
/// a matrix job are one id: outputs of the later ones win, and the result
/// is the worst of theirs, as on GitHub.
fn needs_json(state: &RunState) -> Json {
    let mut out: Map<String, Json> = Map::new();
    let mut results: Vec<(String, Conclusion)> = Vec::new();
    for n in &state.needs {
        let entry = out
            .entry(n.template.clone())
            .or_insert_with(|| json!({"outputs": {}, "result": "success"}));
        if let Some(Json::Object(outputs)) = entry.get_mut("outputs") {
            for (k, v) in &n.outputs {
                outputs.insert(k.clone(), Json::String(v.clone()));
            }
        }
        match results.iter_mut().find(|(t, _)| *t == n.template) {
            Some((_, r)) if rank(n.result) > rank(*r) => *r = n.result,
            Some(_) => {}
            None => results.push((n.template.clone(), n.result)),
        }
    }
    for (t, r) in results {
        if let Some(Json::Object(e)) = out.get_mut(&t) {
            e.insert("result".into(), Json::String(r.as_str().into()));
        }
    }
    Json::Object(out)
}

/// `needs.<caller>` for a reusable-workflow call whose jobs the running
/// job needs: the call's outputs, evaluated with the `jobs` context of
/// the called workflow's jobs, and their worst result. `None` when the job
/// does not need the call.
fn call_json(call: &CallOutputs, state: &RunState) -> Option<Json> {
    let called: Vec<&NeedState> = state
        .needs
        .iter()
        .filter(|n| n.template.starts_with(&call.prefix))
        .collect();
    if called.is_empty() {
        return None;
    }
    // The called workflow's own jobs by id (a nested call's jobs, whose
    // templates hold a further ` / `, are not in its `jobs` context).
    let direct = RunState {
        needs: called
            .iter()
            .filter_map(|n| {
                let id = n.template.strip_prefix(&call.prefix)?;
                (!id.contains(" / ")).then(|| NeedState {
                    template: id.to_string(),
                    ..(*n).clone()
                })
            })
            .collect(),
        ..RunState::new(Env::new(), Vec::new())
    };
    let mut cx = (*call.cx).clone();
    cx.set("jobs", needs_json(&direct));
    let outputs: Map<String, Json> = call
        .outputs
        .iter()
        .map(|(name, text)| {
            // Checked when the workflow was loaded; a value that still
            // fails here reads as empty, as GitHub leaves it.
            let value = evaluate(text, &cx).unwrap_or_else(|e| {
                tracing::warn!("output `{name}` of `{}`: {e}", call.caller);
                String::new()
            });
            (name.clone(), Json::String(value))
        })
        .collect();
    let all = RunState {
        needs: called.into_iter().cloned().collect(),
        ..RunState::new(Env::new(), Vec::new())
    };
    let result = worst(&all);
    Some(json!({"outputs": outputs, "result": result.as_str()}))
}

/// How bad a result is, for "the worst of several" (GitHub's order).
fn rank(c: Conclusion) -> u8 {
    match c {
        Conclusion::Success => 0,
        Conclusion::Skipped => 1,
        Conclusion::Cancelled => 2,
        Conclusion::Failure => 3,
    }
}

/// The worst result among `state.needs` (failure over cancelled over
/// skipped over success).
fn worst(state: &RunState) -> Conclusion {
    state
        .needs
        .iter()
        .map(|n| n.result)
        .max_by_key(|c| rank(*c))
        .unwrap_or(Conclusion::Success)
}

fn evaluate(text: &str, cx: &Contexts) -> Result<String, String> {
    expr::interpolate(text, cx).map_err(|e| format!("`{}`: {e}", text.trim()))
}

impl StepTemplate for StepDeferred {
    fn runs(&self, state: &RunState) -> Option<Result<bool, String>> {
        let condition = self.condition.as_ref()?;
        let cx = runtime_contexts(&self.cx, &self.calls, state, None);
        Some(
            expr::condition(condition, &cx)
                .map_err(|e| format!("`{}`: {e}", expr::condition_text(condition))),
        )
    }

    fn render(&self, step: &Step, state: &RunState) -> Result<Step, String> {
        let mut step = step.clone();
        // The step's own env first: its other fields may read it.
        let mut cx = runtime_contexts(&self.cx, &self.calls, state, Some(&step.env));
        for (name, text) in &self.env {
            let value = evaluate(text, &cx)?;
            let loc = step.env.var(name).and_then(|v| v.loc.clone());
            step.env.set(name.clone(), value, loc);
        }
        if !self.env.is_empty() {
            cx = runtime_contexts(&self.cx, &self.calls, state, Some(&step.env));
        }
        if let Some(t) = &self.name {
            step.name = evaluate(t, &cx)?;
        }
        if let Some(t) = &self.run {
            step.run = evaluate(t, &cx)?;
        }
        if let (Some(t), Some(w)) = (&self.workdir, step.workdir.as_mut()) {
            w.value = evaluate(t, &cx)?;
        }
        Ok(step)
    }

    fn condition(&self) -> Option<&str> {
        self.condition.as_deref().map(expr::condition_text)
    }
}

/// The parts of one job decided at run time.
#[derive(Debug, Default, Clone)]
pub struct JobDeferred {
    pub cx: Arc<Contexts>,
    /// The workflow's reusable-workflow calls, for `needs.<caller>`.
    pub calls: Calls,
    /// An `if:` that reads `needs`.
    pub condition: Option<String>,
    /// Entries of the job's `env` that read `needs`, as written.
    pub env: Vec<(String, String)>,
    /// The job's `outputs`, as written.
    pub outputs: Vec<(String, String)>,
}

impl JobTemplate for JobDeferred {
    fn runs(&self, state: &RunState) -> Option<Result<bool, String>> {
        let condition = self.condition.as_ref()?;
        let cx = runtime_contexts(&self.cx, &self.calls, state, None);
        let text = expr::condition_text(condition);
        let parsed = match expr::Expression::parse(text) {
            Ok(p) => p,
            Err(e) => return Some(Err(e.message)),
        };
        // Without a status function the condition means `success() &&
        // ...`, and a job succeeds only when every job it needs did.
        if !parsed.uses_status && state.needs.iter().any(|n| n.result != Conclusion::Success) {
            return Some(Ok(false));
        }
        Some(expr::condition(condition, &cx).map_err(|e| e.message))
    }

    fn render(&self, job: &Job, state: &RunState) -> Result<Job, String> {
        let mut job = job.clone();
        let cx = runtime_contexts(&self.cx, &self.calls, state, None);
        for (name, text) in &self.env {
            let value = evaluate(text, &cx)?;
            let loc = job.env.var(name).and_then(|v| v.loc.clone());
            job.env.set(name.clone(), value, loc);
        }
        Ok(job)
    }

    fn outputs(&self, state: &RunState) -> Result<Vec<(String, String)>, String> {
        let cx = runtime_contexts(&self.cx, &self.calls, state, None);
        self.outputs
            .iter()
            .map(|(k, text)| Ok((k.clone(), evaluate(text, &cx)?)))
            .collect()
    }

    fn outputs_written(&self) -> Vec<(&str, &str)> {
        self.outputs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }

    fn condition(&self) -> Option<&str> {
        self.condition.as_deref().map(expr::condition_text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{NeedState, StepState};

    fn state() -> RunState {
        let mut env = Env::new();
        env.set("FROM_FILE", "yes", None);
        let mut s = RunState::new(
            env,
            vec![
                NeedState {
                    job: "build (1)".into(),
                    template: "build".into(),
                    result: Conclusion::Success,
                    outputs: vec![("version".into(), "1.2".into())],
                },
                NeedState {
                    job: "build (2)".into(),
                    template: "build".into(),
                    result: Conclusion::Failure,
                    outputs: vec![],
                },
            ],
        );
        s.steps.push(StepState {
            id: Some("v".into()),
            outcome: Conclusion::Failure,
            conclusion: Conclusion::Success,
            outputs: vec![("out".into(), "42".into())],
        });
        s
    }

    #[test]
    fn steps_needs_and_env_come_from_the_run_state() {
        let d = StepDeferred {
            run: Some(
                "${{ steps.v.outputs.out }} ${{ steps.v.outcome }}/${{ steps.v.conclusion }} \
                 ${{ needs.build.outputs.version }} ${{ needs.build.result }} ${{ env.FROM_FILE }}"
                    .into(),
            ),
            ..Default::default()
        };
        let step = Step::new("s", "", crate::model::Loc::synthetic("t"));
        let out = d.render(&step, &state()).map(|s| s.run);
        assert_eq!(out.as_deref(), Ok("42 failure/success 1.2 failure yes"));
    }

    #[test]
    fn a_job_condition_without_status_function_needs_every_need_passed() {
        let job = |c: &str| JobDeferred {
            condition: Some(c.into()),
            ..Default::default()
        };
        let s = state();
        assert_eq!(
            job("needs.build.outputs.version == '1.2'").runs(&s),
            Some(Ok(false))
        );
        assert_eq!(
            job("always() && needs.build.outputs.version == '1.2'").runs(&s),
            Some(Ok(true))
        );
        assert_eq!(
            job("${{ needs.build.result == 'failure' && !cancelled() }}").runs(&s),
            Some(Ok(true))
        );
    }
}
