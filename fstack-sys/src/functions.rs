// The one list of `ff_*` functions. `build.rs` includes this file to build bindgen's allow-list
// and to check that the header it generated from declares every one; `tests/function_list.rs`
// checks the kernel header, the kernel implementation and the pregenerated bindings against it.

/// The `ff_*` functions these bindings declare on both backends (the kernel backend implements
/// exactly these; `include/fstack_kernel.h` declares them).
pub const FUNCTIONS: &[&str] = &[
    "ff_init",
    "ff_run",
    "ff_stop_run",
    "ff_socket",
    "ff_setsockopt",
    "ff_getsockopt",
    "ff_listen",
    "ff_bind",
    "ff_accept",
    "ff_connect",
    "ff_close",
    "ff_shutdown",
    "ff_getpeername",
    "ff_getsockname",
    "ff_read",
    "ff_readv",
    "ff_write",
    "ff_writev",
    "ff_send",
    "ff_recv",
    "ff_sendto",
    "ff_recvmsg",
    "ff_ioctl",
    "ff_fcntl",
    "ff_epoll_create",
    "ff_epoll_ctl",
    "ff_epoll_wait",
];

/// The `ff_*` functions declared only when real F-Stack is linked (F-Stack 1.25 `ff_api.h`;
/// `ff_mbuf_free`, exported but undeclared there, in `include/fstack_real.h`):
/// its native event API, the multi-process packet dispatcher, and the zero-copy send buffers
/// (`ff_zc_mbuf_*` always exist in `libfstack.a`, but `ff_write` takes their chain without a
/// copy only when F-Stack was built with `FF_ZC_SEND=1`: see the crate docs).
pub const FSTACK_ONLY_FUNCTIONS: &[&str] = &[
    "ff_kqueue",
    "ff_kevent",
    "ff_regist_packet_dispatcher",
    "ff_zc_mbuf_get",
    "ff_zc_mbuf_write",
    "ff_mbuf_free",
];
