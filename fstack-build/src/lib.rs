//! Build-script helper for crates that build executables (binaries, examples, tests, benches)
//! linking [`fstack-sys`](https://docs.rs/fstack-sys).
//!
//! Real F-Stack needs the link argument `-Wl,-z,nostart-stop-gc` (its FreeBSD linker sets
//! would otherwise be garbage-collected: `undefined __start_set_sysinit_set`). fstack-sys's
//! build script applies it to its own targets only, because cargo does not propagate link
//! arguments from a library; it publishes them as `DEP_FSTACK_LINK_ARGS` instead, which cargo
//! shows only to the build scripts of crates that list `fstack-sys` in their own
//! `[dependencies]`. Such a crate adds this one to `[build-dependencies]` and a `build.rs`:
//!
//! ```ignore
//! // build.rs
//! fn main() {
//!     fstack_build::apply_link_args();
//! }
//! ```
//!
//! With the kernel backend there are no link arguments and it prints nothing but its rerun
//! condition.
#![warn(missing_docs)]

/// The variable fstack-sys's build script fills (`cargo:link_args=...`).
const VAR: &str = "DEP_FSTACK_LINK_ARGS";

/// Tells cargo to pass fstack-sys's link arguments to every executable this crate builds.
/// Call it from `build.rs`.
pub fn apply_link_args() {
    println!("cargo:rerun-if-env-changed={VAR}");
    for arg in link_args(std::env::var(VAR).ok().as_deref()) {
        println!("cargo:rustc-link-arg={arg}");
    }
}

/// The arguments in `value` (space-separated, as fstack-sys publishes them).
fn link_args(value: Option<&str>) -> Vec<&str> {
    value
        .map(|v| v.split_whitespace().collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::link_args;

    #[test]
    fn splits_the_published_arguments() {
        assert_eq!(link_args(None), Vec::<&str>::new());
        assert_eq!(link_args(Some("")), Vec::<&str>::new());
        assert_eq!(
            link_args(Some("-Wl,-z,nostart-stop-gc")),
            ["-Wl,-z,nostart-stop-gc"]
        );
        assert_eq!(link_args(Some(" -a  -b ")), ["-a", "-b"]);
    }
}
