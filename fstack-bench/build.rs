// Real F-Stack's link arguments for the benchmarks (see fstack-build).
fn main() {
    fstack_build::apply_link_args();
}
