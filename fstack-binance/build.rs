// Real F-Stack's link arguments for this crate's tests and doc tests (see fstack-build).
fn main() {
    fstack_build::apply_link_args();
}
