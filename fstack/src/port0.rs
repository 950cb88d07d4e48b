//! Binding to port 0 ("any free port") on real F-Stack.
//!
//! F-Stack 1.25 leaves an IPv4 socket bound to port 0 without a port: in
//! `freebsd/netinet/in_pcb.c`, `in_pcbbind_setup` calls `in_pcb_lport` (FreeBSD's ephemeral
//! port choice) only `#ifndef FSTACK`, and `in_pcbbind` then skips `in_pcbinshash` while the
//! port is 0. F-Stack defers the choice so that `connect` can pick a port whose RSS hash brings
//! the replies back to this process's queue (`in_pcbconnect_setup` → `in_pcb_lport_dest` with
//! `INPLOOKUP_LPORT_RSS_CHECK`). For a listener or a receiving UDP socket nothing ever picks
//! one: `ff_getsockname` reports port 0, `tcp_usr_listen`'s `in_pcbbind(inp, NULL)` leaves it 0
//! too, the socket is in no lookup table and peers are refused. (IPv6 binds are not patched:
//! `in6_pcbbind` → `in6_pcbsetport` → `in_pcb_lport` picks a port as on FreeBSD.)
//!
//! So when a bind asked for port 0 and the stack still reports port 0, the crate picks the port
//! itself, as `in_pcb_lport` would: from FreeBSD's default ephemeral range
//! (`net.inet.ip.portrange.first`..`last` = `IPPORT_EPHEMERALFIRST`..`IPPORT_EPHEMERALLAST`,
//! 10000..65535, `netinet/in.h`), starting at a random port and taking the first one that a
//! plain socket (no `SO_REUSEADDR`/`SO_REUSEPORT`, so FreeBSD checks the port on every local
//! address) can bind. The kernel backend assigns ports itself and never gets here.

use std::collections::hash_map::RandomState;
use std::ffi::c_int;
use std::hash::{BuildHasher, Hasher};
use std::io;
use std::net::SocketAddr;

use crate::addr::{domain_of, RawAddr};
use crate::error::{Error, Result};
use crate::ffi::{self, End};
use crate::socket::Fd;

/// FreeBSD's `IPPORT_EPHEMERALFIRST` (default `net.inet.ip.portrange.first`).
pub(crate) const FIRST: u16 = 10000;
/// FreeBSD's `IPPORT_EPHEMERALLAST` (default `net.inet.ip.portrange.last`).
pub(crate) const LAST: u16 = 65535;

/// True when `addr` asked for port 0 and the stack left `fd` without a port (real F-Stack,
/// IPv4). Call right after `ff_bind`.
pub(crate) fn unassigned(fd: &Fd, addr: &SocketAddr) -> Result<bool> {
    Ok(addr.port() == 0 && fd.addr(End::Local)?.port() == 0)
}

/// Binds to `addr` with a free port of the ephemeral range: `bind` binds a new socket to the
/// candidate it is given (with the caller's options). Fails with `EADDRNOTAVAIL` (as FreeBSD's
/// `in_pcb_lport_dest` does) when every port is taken.
pub(crate) fn bind_any<T>(
    addr: SocketAddr,
    ty: c_int,
    mut bind: impl FnMut(SocketAddr) -> Result<T>,
) -> Result<T> {
    for port in candidates(random()) {
        let mut candidate = addr;
        candidate.set_port(port);
        let result = probe(candidate, ty).and_then(|()| bind(candidate));
        match result {
            Err(e) if in_use(&e) => continue,
            other => return other,
        }
    }
    Err(Error::Io {
        op: "ff_bind",
        source: io::Error::from_raw_os_error(libc::EADDRNOTAVAIL),
    })
}

/// Every port of `FIRST..=LAST` once, starting at `FIRST + seed % count` and wrapping.
fn candidates(seed: u64) -> impl Iterator<Item = u16> {
    let count = u32::from(LAST - FIRST) + 1;
    let start = (seed % u64::from(count)) as u32;
    (0..count).map(move |i| FIRST + ((start + i) % count) as u16)
}

/// Whether nothing uses `addr`'s port: a plain socket of type `ty` binds to it (and is closed
/// again at once, which frees the port: it never connected).
fn probe(addr: SocketAddr, ty: c_int) -> Result<()> {
    let fd = Fd::new(domain_of(&addr), ty)?;
    let (raw, len) = RawAddr::from_std(&addr);
    ffi::bind(fd.fd, &raw, len)
}

fn in_use(e: &Error) -> bool {
    e.os_error().and_then(io::Error::raw_os_error) == Some(libc::EADDRINUSE)
}

fn random() -> u64 {
    // Each RandomState has fresh random keys: enough to spread the starting port.
    RandomState::new().build_hasher().finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_cover_the_range_once_from_the_seed() {
        for seed in [0, 1, 55535, 55536, u64::MAX] {
            let ports: Vec<u16> = candidates(seed).collect();
            assert_eq!(ports.len(), 55536, "seed {seed}");
            assert_eq!(ports[0], FIRST + (seed % 55536) as u16, "seed {seed}");
            let mut sorted = ports.clone();
            sorted.sort_unstable();
            sorted.dedup();
            assert_eq!(sorted.len(), 55536, "seed {seed}: a port repeats");
            assert_eq!((sorted[0], sorted[55535]), (FIRST, LAST));
        }
    }

    #[test]
    fn candidates_wrap_after_the_last_port() {
        let ports: Vec<u16> = candidates(55535).take(3).collect();
        assert_eq!(ports, [65535, 10000, 10001]);
    }
}
