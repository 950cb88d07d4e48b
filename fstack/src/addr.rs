//! Conversions between `std::net::SocketAddr` and the Linux socket address layout that `ff_*`
//! calls take (`struct linux_sockaddr`, or `sockaddr_in6` for IPv6, with Linux family values).

use std::mem;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use fstack_sys::linux_sockaddr;

/// Storage big enough for any address `ff_*` calls exchange.
#[repr(C)]
pub(crate) union RawAddr {
    v4: libc::sockaddr_in,
    v6: libc::sockaddr_in6,
    storage: libc::sockaddr_storage,
}

impl RawAddr {
    pub(crate) fn zeroed() -> RawAddr {
        // SAFETY: all three members are plain C structs for which all-zero bytes are valid.
        unsafe { mem::zeroed() }
    }

    pub(crate) fn capacity() -> libc::socklen_t {
        mem::size_of::<RawAddr>() as libc::socklen_t
    }

    pub(crate) fn as_ptr(&self) -> *const linux_sockaddr {
        (self as *const RawAddr).cast()
    }

    pub(crate) fn as_mut_ptr(&mut self) -> *mut linux_sockaddr {
        (self as *mut RawAddr).cast()
    }

    /// Encodes `addr`, returning the storage and the length to pass with it.
    pub(crate) fn from_std(addr: &SocketAddr) -> (RawAddr, libc::socklen_t) {
        let mut raw = RawAddr::zeroed();
        match addr {
            SocketAddr::V4(a) => {
                raw.v4 = libc::sockaddr_in {
                    sin_family: libc::AF_INET as libc::sa_family_t,
                    sin_port: a.port().to_be(),
                    sin_addr: libc::in_addr {
                        s_addr: u32::from_ne_bytes(a.ip().octets()),
                    },
                    sin_zero: [0; 8],
                };
                (raw, mem::size_of::<libc::sockaddr_in>() as libc::socklen_t)
            }
            SocketAddr::V6(a) => {
                raw.v6 = libc::sockaddr_in6 {
                    // F-Stack's Linux ABI uses AF_INET6_LINUX (10), which is Linux's AF_INET6.
                    sin6_family: fstack_sys::AF_INET6_LINUX as libc::sa_family_t,
                    sin6_port: a.port().to_be(),
                    sin6_flowinfo: a.flowinfo().to_be(),
                    sin6_addr: libc::in6_addr {
                        s6_addr: a.ip().octets(),
                    },
                    sin6_scope_id: a.scope_id(),
                };
                (raw, mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t)
            }
        }
    }

    /// Decodes an address filled in by F-Stack, or `None` for an unknown family or short length.
    pub(crate) fn to_std(&self, len: libc::socklen_t) -> Option<SocketAddr> {
        let len = len as usize;
        // SAFETY: every member starts with the family field; reading it from the zeroed or
        // F-Stack-filled storage is valid whichever member was written.
        let family = unsafe { self.storage.ss_family } as i32;
        if family == libc::AF_INET && len >= mem::size_of::<libc::sockaddr_in>() {
            // SAFETY: the family says the storage holds a sockaddr_in, and len covers it.
            let a = unsafe { self.v4 };
            Some(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(a.sin_addr.s_addr.to_ne_bytes()),
                u16::from_be(a.sin_port),
            )))
        } else if family == fstack_sys::AF_INET6_LINUX as i32
            && len >= mem::size_of::<libc::sockaddr_in6>()
        {
            // SAFETY: the family says the storage holds a sockaddr_in6, and len covers it.
            let a = unsafe { self.v6 };
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(a.sin6_addr.s6_addr),
                u16::from_be(a.sin6_port),
                u32::from_be(a.sin6_flowinfo),
                a.sin6_scope_id,
            )))
        } else {
            None
        }
    }
}

/// The socket domain (`AF_INET` or `AF_INET6_LINUX`) for an address.
pub(crate) fn domain_of(addr: &SocketAddr) -> libc::c_int {
    match addr {
        SocketAddr::V4(_) => libc::AF_INET,
        SocketAddr::V6(_) => fstack_sys::AF_INET6_LINUX as libc::c_int,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_v4_and_v6() {
        for s in [
            "127.0.0.1:80",
            "0.0.0.0:0",
            "255.255.255.255:65535",
            "[::1]:443",
            "[fe80::1%7]:9443",
            "[2001:db8::dead:beef]:1",
        ] {
            let addr: SocketAddr = s.parse().unwrap();
            let (raw, len) = RawAddr::from_std(&addr);
            assert_eq!(raw.to_std(len), Some(addr), "{s}");
        }
    }

    #[test]
    fn v4_layout_is_network_order() {
        let (raw, len) = RawAddr::from_std(&"1.2.3.4:258".parse().unwrap());
        assert_eq!(len, 16);
        // SAFETY: reading the bytes of a fully initialised (zeroed, then written) union.
        let bytes: [u8; 16] = unsafe { mem::transmute_copy(&raw.v4) };
        assert_eq!(&bytes[..8], &[2, 0, 1, 2, 1, 2, 3, 4]);
    }

    #[test]
    fn unknown_family_or_short_length_is_none() {
        let raw = RawAddr::zeroed();
        assert_eq!(raw.to_std(RawAddr::capacity()), None);
        let (raw, _) = RawAddr::from_std(&"[::1]:1".parse().unwrap());
        assert_eq!(raw.to_std(16), None);
    }
}
