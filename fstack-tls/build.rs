// Real F-Stack's link arguments for tests/fstack_loop.rs, which runs TLS over F-Stack sockets
// (see fstack-build).
fn main() {
    fstack_build::apply_link_args();
}
