//! Facts about the host that change a verdict, as `nestci doctor` finds
//! them. The engine never probes by itself (it stays a pure function);
//! the CLI probes and passes the facts in.

/// What this host can do; `None` for a fact that was not measured.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostFacts {
    /// The kernel lets nestci create user namespaces (without them dind
    /// mode cannot map container root to an unprivileged uid).
    pub user_namespaces: Option<bool>,
}

impl HostFacts {
    /// Read the facts from `/proc` (cheap; no namespace is created).
    pub fn probe() -> HostFacts {
        let read = |p: &str| std::fs::read_to_string(p).ok();
        let max =
            read("/proc/sys/user/max_user_namespaces").and_then(|s| s.trim().parse::<u64>().ok());
        // Debian's switch for unprivileged users; root is not affected.
        let unprivileged_off =
            read("/proc/sys/kernel/unprivileged_userns_clone").is_some_and(|s| s.trim() == "0");
        let is_root = read("/proc/self/status").is_some_and(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2))
                == Some("0")
        });
        HostFacts {
            user_namespaces: max.map(|m| m > 0 && (is_root || !unprivileged_off)),
        }
    }
}
