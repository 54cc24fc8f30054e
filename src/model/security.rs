//! What a job asks of the container runtime that touches isolation.
//!
//! Every key exists so a pipeline can ask for it and the policy engine can
//! judge it; each carries its location for findings. A key left unset means
//! the runtime's safe default.

use super::Located;

#[derive(Debug, Clone, Default)]
pub struct Security {
    pub privileged: Option<Located<bool>>,
    pub cap_add: Vec<Located<String>>,
    pub cap_drop: Vec<Located<String>>,
    pub mount_docker_socket: Option<Located<bool>>,
    pub network: Option<Located<NetworkMode>>,
    pub pid: Option<Located<NamespaceMode>>,
    pub ipc: Option<Located<NamespaceMode>>,
    pub uts: Option<Located<NamespaceMode>>,
    pub userns: Option<Located<NamespaceMode>>,
    pub seccomp: Option<Located<SeccompMode>>,
    pub apparmor: Option<Located<AppArmorMode>>,
    /// SELinux labelling (`unconfined` is Docker's `label=disable`).
    pub selinux: Option<Located<AppArmorMode>>,
    /// `unconfined` leaves /proc and /sys unmasked and writable (Docker's
    /// `systempaths=unconfined`), as nested runtimes sometimes ask.
    pub systempaths: Option<Located<AppArmorMode>>,
    pub no_new_privs: Option<Located<bool>>,
    pub devices: Vec<Located<String>>,
    pub volumes: Vec<Located<Volume>>,
    pub read_only: Option<Located<bool>>,
    pub user: Option<Located<String>>,
}

impl Security {
    pub fn is_privileged(&self) -> bool {
        self.privileged.as_ref().is_some_and(|p| p.value)
    }
}

/// `network:` of a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetworkMode {
    /// Loopback only.
    None,
    /// A private network shared with the job's services.
    Bridge,
    /// The host's own network namespace.
    Host,
}

impl NetworkMode {
    pub const NAMES: &'static [&'static str] = &["none", "bridge", "host"];
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "none" => NetworkMode::None,
            "bridge" => NetworkMode::Bridge,
            "host" => NetworkMode::Host,
            _ => return None,
        })
    }
}

/// `pid:`, `ipc:`, `uts:` and `userns:`: a private namespace or the host's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NamespaceMode {
    Private,
    Host,
}

impl NamespaceMode {
    pub const NAMES: &'static [&'static str] = &["private", "host"];
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "private" => NamespaceMode::Private,
            "host" => NamespaceMode::Host,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeccompMode {
    Default,
    Unconfined,
}

impl SeccompMode {
    pub const NAMES: &'static [&'static str] = &["default", "unconfined"];
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "default" => SeccompMode::Default,
            "unconfined" => SeccompMode::Unconfined,
            _ => return None,
        })
    }
}

/// A confinement that is on by default and can be switched off: AppArmor,
/// SELinux labels, the masking of /proc and /sys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppArmorMode {
    Default,
    Unconfined,
}

impl AppArmorMode {
    pub const NAMES: &'static [&'static str] = &["default", "unconfined"];
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "default" => AppArmorMode::Default,
            "unconfined" => AppArmorMode::Unconfined,
            _ => return None,
        })
    }
}

/// A bind mount `host:container[:options]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    pub host: String,
    pub container: String,
    pub read_only: bool,
    pub propagation: Option<Propagation>,
}

/// Mount propagation of a bind mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Propagation {
    Private,
    RPrivate,
    Shared,
    RShared,
    Slave,
    RSlave,
}

impl Propagation {
    pub const NAMES: &'static [&'static str] = &[
        "private", "rprivate", "shared", "rshared", "slave", "rslave",
    ];
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "private" => Propagation::Private,
            "rprivate" => Propagation::RPrivate,
            "shared" => Propagation::Shared,
            "rshared" => Propagation::RShared,
            "slave" => Propagation::Slave,
            "rslave" => Propagation::RSlave,
            _ => return None,
        })
    }
}

impl Volume {
    /// Parse `host:container[:opt[,opt]]` with options `ro`, `rw` and a
    /// propagation mode. Errors are plain words for the caller to locate.
    pub fn parse(spec: &str) -> Result<Volume, String> {
        let parts: Vec<&str> = spec.split(':').collect();
        let (host, container, opts) = match parts.as_slice() {
            [h, c] => (*h, *c, None),
            [h, c, o] => (*h, *c, Some(*o)),
            _ => {
                return Err(format!(
                    "volume `{spec}` must be `host:container` or `host:container:options`"
                ));
            }
        };
        if host.is_empty() || container.is_empty() {
            return Err(format!("volume `{spec}` has an empty path"));
        }
        if !container.starts_with('/') {
            return Err(format!(
                "volume `{spec}`: the container path `{container}` must be absolute"
            ));
        }
        let mut volume = Volume {
            host: host.to_string(),
            container: container.to_string(),
            read_only: false,
            propagation: None,
        };
        for opt in opts.into_iter().flat_map(|o| o.split(',')) {
            match opt {
                "ro" => volume.read_only = true,
                "rw" => volume.read_only = false,
                other => match Propagation::parse(other) {
                    Some(p) => volume.propagation = Some(p),
                    None => {
                        return Err(format!(
                            "volume `{spec}`: unknown option `{other}` (expected ro, rw or one of {})",
                            Propagation::NAMES.join(", ")
                        ));
                    }
                },
            }
        }
        Ok(volume)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volumes() {
        let v = Volume::parse("/src:/dst:ro,rshared").unwrap();
        assert!(v.read_only);
        assert_eq!(v.propagation, Some(Propagation::RShared));
        assert!(Volume::parse("/a:rel").is_err());
        assert!(Volume::parse("/a:/b:bogus").unwrap_err().contains("bogus"));
        assert!(Volume::parse("/a").is_err());
    }
}
