//! Zero-copy send (`ff_zc_mbuf_get`, `ff_zc_mbuf_write`, `ff_write` of the mbuf chain;
//! `ff_api.h`, F-Stack's `example/main_zc.c`).
//!
//! Available only when the linked F-Stack was built with `FF_ZC_SEND=1` (off in F-Stack 1.25's
//! `lib/Makefile`): with it, `m_uiotombuf` (`freebsd/kern/uipc_mbuf.c`) takes the caller's
//! buffer as an mbuf chain instead of copying from it. The library exports the `ff_zc_mbuf_*`
//! functions either way, so nothing in `libfstack.a` tells; fstack-sys decides at build time
//! ([`fstack_sys::ZC_SEND`]: `FSTACK_ZC_SEND=1|0`, else the `FF_ZC_SEND` line of
//! `$FF_PATH/lib/Makefile`). [`zero_copy_send`] reports the answer; without it,
//! [`FStackSocket::write_zero_copy`] fails with [`Error::Unsupported`] before touching F-Stack.
//!
//! To enable it: uncomment `FF_ZC_SEND=1` in F-Stack's `lib/Makefile`, rebuild `libfstack.a`
//! (`make` in `lib/`), and rebuild this crate (`FF_PATH` pointing at that tree).
//!
//! The data is still copied once, into the stack's mbufs (`ff_zc_mbuf_write`); what is saved is
//! the socket layer's copy, and a caller that fills the mbufs directly could save both. Large
//! writes that the socket cannot take whole are an open F-Stack bug (#712: partial writes of a
//! chain): keep each write within the free send space.

#[cfg(doc)]
use crate::error::Error;
use crate::error::Result;
use crate::ffi;
use crate::socket::{FStackSocket, Source};

/// True when this build can send without the socket layer's copy: the linked F-Stack was built
/// with `FF_ZC_SEND=1` ([`fstack_sys::ZC_SEND`]).
pub fn zero_copy_send() -> bool {
    fstack_sys::ZC_SEND
}

impl FStackSocket {
    /// Writes `buf` through an mbuf chain handed to the stack without the socket layer's copy
    /// (see the [module docs](crate::zc)). Returns the bytes taken; `WouldBlock` like
    /// [`write`](std::io::Write::write).
    ///
    /// Fails with [`Error::Unsupported`] when [`zero_copy_send`] is false (the kernel backend, or
    /// an F-Stack built without `FF_ZC_SEND=1`).
    pub fn write_zero_copy(&mut self, buf: &[u8]) -> Result<usize> {
        ffi::write_zc(self.raw_fd(), buf)
    }
}
