//! Small helpers the rules share: where a job names images, environment
//! variables and scripts, and how to read host paths and image references.

use crate::model::{EnvVar, Job, Located, Step};

/// Every registry image a job uses (job, step and service images): not the
/// special image `host`, not references still holding a variable, and not
/// local rootfs directories or archives (`./rootfs.tar`), which the
/// repository itself pins.
pub fn images(job: &Job) -> Vec<&Located<String>> {
    let mut out: Vec<&Located<String>> = Vec::new();
    out.extend(job.image.iter());
    out.extend(job.steps.iter().filter_map(|s| s.image.as_ref()));
    out.extend(job.services.iter().map(|s| &s.image));
    out.retain(|i| i.value != "host" && !i.value.contains('$') && !is_local_image(&i.value));
    out
}

/// A path rather than a registry reference, as the dind runtime reads one.
fn is_local_image(reference: &str) -> bool {
    reference.starts_with('/') || reference.starts_with("./") || reference.starts_with("../")
}

/// A parsed image reference: `registry/repo[:tag][@digest]`.
#[derive(Debug, PartialEq, Eq)]
pub struct ImageRef<'a> {
    /// Everything before the tag and digest.
    pub repository: &'a str,
    pub tag: Option<&'a str>,
    pub digest: Option<&'a str>,
}

pub fn parse_image(reference: &str) -> ImageRef<'_> {
    let (rest, digest) = match reference.split_once('@') {
        Some((r, d)) => (r, Some(d)),
        None => (reference, None),
    };
    // A colon after the last slash starts the tag; before it, a port.
    let slash = rest.rfind('/').map_or(0, |i| i + 1);
    match rest[slash..].rfind(':') {
        Some(i) => ImageRef {
            repository: &rest[..slash + i],
            tag: Some(&rest[slash + i + 1..]),
            digest,
        },
        None => ImageRef {
            repository: rest,
            tag: None,
            digest,
        },
    }
}

/// The repository's last path component (`docker` for
/// `registry.example.com/library/docker`).
pub fn image_basename(repository: &str) -> &str {
    repository.rsplit('/').next().unwrap_or(repository)
}

/// Every environment variable the job sets, at every level it can be set
/// (job, step and service env); pipeline-level env is already in the job's.
pub fn env_vars(job: &Job) -> impl Iterator<Item = &EnvVar> {
    job.env
        .iter()
        .chain(job.steps.iter().flat_map(|s| s.env.iter()))
        .chain(job.services.iter().flat_map(|s| s.env.iter()))
}

/// The non-empty lines of every step's script with the step they are in,
/// shell comments left out.
pub fn script_lines(job: &Job) -> impl Iterator<Item = (&Step, &str)> {
    job.steps.iter().flat_map(|step| {
        step.run
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(move |l| (step, l))
    })
}

/// `path` with `.`/`..` resolved, repeated and trailing slashes removed,
/// and `$HOME`/`${HOME}` written as `~`. Relative paths stay relative.
pub fn normalize_path(path: &str) -> String {
    let path = path
        .strip_prefix("${HOME}")
        .or_else(|| path.strip_prefix("$HOME"))
        .map_or_else(|| path.to_string(), |rest| format!("~{rest}"));
    let absolute = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|p| *p != ".." && *p != "~") {
                    parts.pop();
                } else if !absolute {
                    parts.push("..");
                }
            }
            p => parts.push(p),
        }
    }
    let joined = parts.join("/");
    if absolute {
        format!("/{joined}")
    } else if joined.is_empty() {
        ".".to_string()
    } else {
        joined
    }
}

/// `path` is `dir` or below it (both normalized).
pub fn is_under(path: &str, dir: &str) -> bool {
    if dir == "/" {
        return path.starts_with('/');
    }
    path == dir
        || path
            .strip_prefix(dir)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// A host path from outside the project checkout: absolute or in a home
/// directory. Relative paths are inside the workspace.
pub fn is_host_path(normalized: &str) -> bool {
    normalized.starts_with('/') || normalized.starts_with('~')
}

/// Container-engine sockets: whoever can write to one is root on the host.
pub fn is_engine_socket(normalized: &str) -> bool {
    const SOCKETS: &[&str] = &[
        "docker.sock",
        "containerd.sock",
        "podman.sock",
        "buildkitd.sock",
        "crio.sock",
        "dockershim.sock",
    ];
    let name = normalized.rsplit('/').next().unwrap_or(normalized);
    SOCKETS.contains(&name) || (normalized.contains("buildkit") && name.ends_with(".sock"))
}

/// A variable name that by convention holds a secret.
pub fn is_secret_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    [
        "PASSWORD",
        "PASSWD",
        "SECRET",
        "TOKEN",
        "API_KEY",
        "APIKEY",
        "PRIVATE_KEY",
        "CREDENTIAL",
        "AUTH",
    ]
    .iter()
    .any(|w| upper.contains(w))
}

/// A value that refers to a variable or secret instead of holding one.
pub fn is_reference(value: &str) -> bool {
    let v = value.trim();
    v.is_empty() || v.starts_with('$') || v.starts_with("${{")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_references() {
        let r = parse_image("registry:5000/team/app:1.2@sha256:abc");
        assert_eq!(r.repository, "registry:5000/team/app");
        assert_eq!(r.tag, Some("1.2"));
        assert_eq!(r.digest, Some("sha256:abc"));
        assert_eq!(parse_image("registry:5000/app").tag, None);
        assert_eq!(parse_image("alpine").tag, None);
        assert_eq!(image_basename("docker.io/library/docker"), "docker");
        assert!(is_local_image("./busybox-rootfs.tar"));
        assert!(is_local_image("/srv/rootfs"));
        assert!(!is_local_image("registry:5000/app"));
        assert!(!is_local_image("alpine"));
    }

    #[test]
    fn paths() {
        assert_eq!(normalize_path("/etc/"), "/etc");
        assert_eq!(
            normalize_path("/var//run/../run/docker.sock"),
            "/var/run/docker.sock"
        );
        assert_eq!(normalize_path("/a/../../etc"), "/etc");
        assert_eq!(normalize_path("$HOME/.ssh"), "~/.ssh");
        assert_eq!(normalize_path("./build"), "build");
        assert!(is_under("/etc/ssl", "/etc"));
        assert!(!is_under("/etcetera", "/etc"));
        assert!(is_under("/anything", "/"));
        assert!(is_engine_socket("/run/containerd/containerd.sock"));
        assert!(!is_engine_socket("/run/docker"));
    }
}
