//! Finding and removing what runs left behind, by label.
//!
//! Every object nestci creates carries `nestci.run` and
//! `nestci.owner=<host>/<pid>`. [`collect`] lists them all through the
//! API; [`sweep`] removes those whose owner is gone — a run that crashed or
//! was killed with SIGKILL — and keeps those of runs still going on this
//! host (unless told to take everything). Containers go first, then the
//! networks and volumes they used.

use std::fmt;

use hyper::Method;
use serde::Deserialize;

use super::client::{Body, Engine, EngineError, label_filter};
use super::labels;

/// The kinds of object nestci creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Container,
    Network,
    Volume,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Container => "container",
            Kind::Network => "network",
            Kind::Volume => "volume",
        })
    }
}

/// One labelled object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leftover {
    pub kind: Kind,
    /// Id (containers, networks) or name (volumes).
    pub id: String,
    /// A human name: the container's or network's name.
    pub name: String,
    pub run: String,
    pub job: String,
    pub owner: String,
}

impl fmt::Display for Leftover {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let short: String = self.id.chars().take(12).collect();
        write!(
            f,
            "{} {} ({short}) of run {} job `{}`",
            self.kind, self.name, self.run, self.job
        )
    }
}

#[derive(Deserialize)]
struct Listed {
    #[serde(rename = "Id", alias = "ID", default)]
    id: String,
    #[serde(rename = "Names", default)]
    names: Option<Vec<String>>,
    #[serde(rename = "Name", default)]
    name: Option<String>,
    #[serde(rename = "Labels", default)]
    labels: Option<std::collections::HashMap<String, String>>,
}

#[derive(Deserialize)]
struct Volumes {
    #[serde(rename = "Volumes", default)]
    volumes: Option<Vec<Listed>>,
}

/// Every object carrying all of `filters` (`key` or `key=value`).
pub async fn collect(engine: &Engine, filters: &[String]) -> Result<Vec<Leftover>, EngineError> {
    let q = label_filter(filters);
    let containers: Vec<Listed> = engine
        .json(
            Method::GET,
            &format!("/containers/json?all=true&filters={q}"),
            Body::None,
        )
        .await?;
    let networks: Vec<Listed> = engine
        .json(Method::GET, &format!("/networks?filters={q}"), Body::None)
        .await?;
    let volumes: Volumes = engine
        .json(Method::GET, &format!("/volumes?filters={q}"), Body::None)
        .await?;
    let mut out = Vec::new();
    let lists = [
        (Kind::Container, containers),
        (Kind::Network, networks),
        (Kind::Volume, volumes.volumes.unwrap_or_default()),
    ];
    for (kind, list) in lists {
        for item in list {
            let labels = item.labels.unwrap_or_default();
            let get = |k: &str| labels.get(k).cloned().unwrap_or_default();
            let name = item
                .names
                .and_then(|n| n.into_iter().next())
                .or(item.name)
                .unwrap_or_default()
                .trim_start_matches('/')
                .to_string();
            let id = if item.id.is_empty() {
                name.clone()
            } else {
                item.id
            };
            out.push(Leftover {
                kind,
                id,
                name,
                run: get(labels::RUN),
                job: get(labels::JOB),
                owner: get(labels::OWNER),
            });
        }
    }
    Ok(out)
}

/// Is the process that created an object still running on this host?
pub fn owner_alive(owner: &str) -> bool {
    let Some((host, pid)) = owner.rsplit_once('/') else {
        return false;
    };
    let this_host = super::owner();
    let this_host = this_host.rsplit_once('/').map_or("", |(h, _)| h);
    if host != this_host {
        // Another machine's run: we cannot tell, so leave it alone.
        return true;
    }
    pid.parse::<u32>()
        .is_ok_and(|p| std::path::Path::new(&format!("/proc/{p}")).exists())
}

/// What [`sweep`] did.
#[derive(Debug, Default)]
pub struct Swept {
    pub removed: Vec<Leftover>,
    /// Objects of runs still alive, left alone.
    pub kept: Vec<Leftover>,
    /// Objects that could not be removed, and why.
    pub failed: Vec<(Leftover, String)>,
}

/// Remove leftovers: those of dead owners, or all when `everything`.
/// `filters` narrows the search (e.g. `nestci.run=<id>`); empty means
/// every nestci object.
pub async fn sweep(
    engine: &Engine,
    filters: &[String],
    everything: bool,
) -> Result<Swept, EngineError> {
    let mut filters = filters.to_vec();
    if filters.is_empty() {
        filters.push(labels::RUN.to_string());
    }
    let mut found = collect(engine, &filters).await?;
    found.sort_by_key(|l| l.kind);
    let mut swept = Swept::default();
    for item in found {
        if !everything && owner_alive(&item.owner) {
            swept.kept.push(item);
            continue;
        }
        let path = match item.kind {
            Kind::Container => format!("/containers/{}?force=true&v=true", item.id),
            Kind::Network => format!("/networks/{}", item.id),
            Kind::Volume => format!("/volumes/{}?force=true", item.id),
        };
        match engine.call(Method::DELETE, &path, Body::None).await {
            Ok(()) => swept.removed.push(item),
            Err(e) if e.is_not_found() => swept.removed.push(item),
            Err(e) => swept.failed.push((item, e.to_string())),
        }
    }
    Ok(swept)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners() {
        assert!(owner_alive(&super::super::owner()));
        let host = super::super::owner();
        let host = host.rsplit_once('/').map(|(h, _)| h).unwrap_or_default();
        // pid 0 is never a process in /proc.
        assert!(!owner_alive(&format!("{host}/0")));
        assert!(owner_alive("some-other-machine/1"));
        assert!(!owner_alive("garbage"));
    }
}
