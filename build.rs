// Real F-Stack's link arguments for the examples and tests (see fstack-build).
fn main() {
    fstack_build::apply_link_args();
}
