//! Connects to loopback or to the stack's own address: the same answer on both backends.
//!
//! Stock F-Stack (built without `FF_LOOPBACK_SUPPORT=1` in its `lib/Makefile`, the default)
//! never completes a TCP connect to 127.0.0.0/8 or to its own port address: the SYN is never
//! delivered and the connect hangs until TCP gives up (F-Stack #280, #627). The kernel backend
//! reaches them at once. [`Loopback`] picks one behaviour for the process, and a refused
//! connect fails at once with [`Error::Loopback`] instead of hanging.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::OnceLock;

use crate::error::{Error, Result};
use crate::stack::{backend, Backend};

/// The environment variable that sets the [`Loopback`] policy when
/// [`StackOptions::loopback`](crate::StackOptions::loopback) does not: `allow` or `refuse`.
pub const LOOPBACK_ENV: &str = "FSTACK_LOOPBACK";

/// Whether TCP connects, UDP connects and UDP sends to loopback (127.0.0.0/8, `::1`, the
/// unspecified address) or to one of the stack's own addresses (the config's `[portN]`
/// `addr`/`addr6`/`vip_addr`/`vip_addr6`, or the `[vlanN]` ones when the config has `[vlanN]`
/// sections) are made.
///
/// Defaults by backend: real F-Stack refuses them (stock builds hang such connects; choose
/// `Allow` only for an F-Stack built with `FF_LOOPBACK_SUPPORT=1`); the kernel backend allows
/// them (its tests and development setups talk to local peers). `Refuse` on the kernel backend
/// makes a program meet, during development, the error it would meet on stock F-Stack.
///
/// Set with [`StackOptions::loopback`](crate::StackOptions::loopback), or the environment
/// variable `FSTACK_LOOPBACK=allow|refuse` read by [`Stack::init`](crate::Stack::init); the
/// option wins over the variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loopback {
    /// Connect as asked.
    Allow,
    /// Fail such connects at once with [`Error::Loopback`].
    Refuse,
}

impl Loopback {
    /// The policy when neither the option nor the variable sets one.
    pub fn default_for(backend: Backend) -> Loopback {
        match backend {
            Backend::FStack => Loopback::Refuse,
            Backend::Kernel => Loopback::Allow,
        }
    }

    /// Parses `allow` or `refuse` (the values of `FSTACK_LOOPBACK`).
    pub fn parse(value: &str) -> Option<Loopback> {
        match value {
            "allow" => Some(Loopback::Allow),
            "refuse" => Some(Loopback::Refuse),
            _ => None,
        }
    }
}

/// 0: not set yet (before `Stack::init`), 1: allow, 2: refuse.
static POLICY: AtomicU8 = AtomicU8::new(0);
/// The stack's own addresses, from the config.
static OWN: OnceLock<Vec<IpAddr>> = OnceLock::new();

/// The policy from `option`, else from the environment, else the backend's default.
pub(crate) fn resolve(option: Option<Loopback>) -> Result<Loopback> {
    if let Some(policy) = option {
        return Ok(policy);
    }
    match std::env::var(LOOPBACK_ENV) {
        Ok(v) => Loopback::parse(&v).ok_or_else(|| {
            Error::InvalidArgument(format!(
                "{LOOPBACK_ENV}={v:?}: expected `allow` or `refuse`"
            ))
        }),
        Err(_) => Ok(Loopback::default_for(backend())),
    }
}

/// Records the policy and the config's own addresses; called by `Stack::init`.
pub(crate) fn configure(policy: Loopback, config: &Path) {
    let text = std::fs::read_to_string(config).unwrap_or_default();
    let _ = OWN.set(own_addresses(&text));
    POLICY.store(
        match policy {
            Loopback::Allow => 1,
            Loopback::Refuse => 2,
        },
        Ordering::Relaxed,
    );
}

/// The policy in force (before `Stack::init`: the backend's default).
pub fn loopback_policy() -> Loopback {
    match POLICY.load(Ordering::Relaxed) {
        1 => Loopback::Allow,
        2 => Loopback::Refuse,
        _ => Loopback::default_for(backend()),
    }
}

/// Fails with [`Error::Loopback`] when the policy refuses a connect (TCP or UDP) or a UDP send
/// to `addr`.
pub(crate) fn check_connect(addr: &SocketAddr) -> Result<()> {
    if loopback_policy() == Loopback::Allow {
        return Ok(());
    }
    let own = OWN.get().map(Vec::as_slice).unwrap_or_default();
    if is_local(addr.ip(), own) {
        return Err(Error::Loopback {
            addr: *addr,
            backend: backend().name(),
        });
    }
    Ok(())
}

/// Loopback, unspecified (which means this host), or one of `own`.
fn is_local(ip: IpAddr, own: &[IpAddr]) -> bool {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    ip.is_loopback() || ip.is_unspecified() || own.contains(&ip)
}

/// `addr`, `addr6`, `vip_addr` and `vip_addr6` (`;`-separated lists) of the `[portN]`
/// sections of an F-Stack config, or of its `[vlanN]` sections when it has any: F-Stack's
/// `config.ini` says that with `[vlanN]` sections all `[portN]` config is ignored, and the
/// stack's addresses are then the VLAN interfaces' (`vlan_cfg_handler` in `lib/ff_config.c`).
fn own_addresses(config: &str) -> Vec<IpAddr> {
    #[derive(PartialEq)]
    enum Section {
        Port,
        Vlan,
        Other,
    }
    let numbered = |name: &str, prefix: &str| {
        name.strip_prefix(prefix)
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    };
    let mut section = Section::Other;
    let mut has_vlan = false;
    let (mut port, mut vlan) = (Vec::new(), Vec::new());
    for line in config.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix('[') {
            let name = rest.split(']').next().unwrap_or_default().trim();
            section = if numbered(name, "port") {
                Section::Port
            } else if numbered(name, "vlan") {
                has_vlan = true;
                Section::Vlan
            } else {
                Section::Other
            };
            continue;
        }
        let Some((key, value)) = line.split_once(['=', ':']) else {
            continue;
        };
        let found = match section {
            Section::Port => &mut port,
            Section::Vlan => &mut vlan,
            Section::Other => continue,
        };
        if !matches!(key.trim(), "addr" | "addr6" | "vip_addr" | "vip_addr6") {
            continue;
        }
        let value = value.split(" ;").next().unwrap_or_default();
        found.extend(
            value
                .split(';')
                .filter_map(|a| a.trim().parse::<IpAddr>().ok()),
        );
    }
    if has_vlan {
        vlan
    } else {
        port
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_addresses_come_from_port_sections() {
        let conf = "[dpdk]\naddr=9.9.9.9\n[port0]\naddr=192.168.1.2\nnetmask=255.255.255.0\n\
                    addr6=fd00::2\nvip_addr=10.0.0.5;10.0.0.6 ; two\n[port10]\naddr: 10.1.0.1\n\
                    [portx]\naddr=10.2.0.1\n";
        let want: Vec<IpAddr> = ["192.168.1.2", "fd00::2", "10.0.0.5", "10.0.0.6", "10.1.0.1"]
            .iter()
            .map(|a| a.parse().unwrap())
            .collect();
        assert_eq!(own_addresses(conf), want);
    }

    #[test]
    fn own_addresses_come_from_vlan_sections_when_there_are_any() {
        let conf = "[dpdk]\nvlan_filter=1,2\n[port0]\naddr=192.168.1.2\naddr6=fd00::2\n\
                    [vlan1]\nportid=0\naddr=192.169.0.2\nvip_addr=192.169.0.3;192.169.0.4\n\
                    [vlan2]\nportid=0\naddr=192.169.1.2\naddr6=fe::32\nvip_addr6=fe::33\n\
                    [vlanx]\naddr=10.2.0.1\n";
        let want: Vec<IpAddr> = [
            "192.169.0.2",
            "192.169.0.3",
            "192.169.0.4",
            "192.169.1.2",
            "fe::32",
            "fe::33",
        ]
        .iter()
        .map(|a| a.parse().unwrap())
        .collect();
        assert_eq!(own_addresses(conf), want);
    }

    #[test]
    fn local_means_loopback_unspecified_or_own() {
        let own: Vec<IpAddr> = vec!["192.168.1.2".parse().unwrap()];
        for ip in [
            "127.0.0.1",
            "127.8.9.10",
            "::1",
            "0.0.0.0",
            "::",
            "::ffff:127.0.0.1",
        ] {
            assert!(is_local(ip.parse().unwrap(), &own), "{ip}");
        }
        assert!(is_local("192.168.1.2".parse().unwrap(), &own));
        assert!(is_local("::ffff:192.168.1.2".parse().unwrap(), &own));
        for ip in ["192.168.1.3", "10.0.0.1", "fd00::2"] {
            assert!(!is_local(ip.parse().unwrap(), &own), "{ip}");
        }
    }

    #[test]
    fn policy_values() {
        assert_eq!(Loopback::parse("allow"), Some(Loopback::Allow));
        assert_eq!(Loopback::parse("refuse"), Some(Loopback::Refuse));
        assert_eq!(Loopback::parse("1"), None);
        assert_eq!(Loopback::default_for(Backend::FStack), Loopback::Refuse);
        assert_eq!(Loopback::default_for(Backend::Kernel), Loopback::Allow);
    }
}
