// Real F-Stack's link arguments for this crate's own tests and doc tests (see fstack-build),
// and fstack-sys's build-time facts as cfgs: `fstack_backend = "fstack"|"kernel"` (the
// F-Stack-only calls, e.g. `ff_kqueue`, exist only with the real one) and `fstack_zc_send`
// (F-Stack built with `FF_ZC_SEND=1`).
fn main() {
    fstack_build::apply_link_args();
    println!("cargo::rustc-check-cfg=cfg(fstack_backend, values(\"fstack\", \"kernel\"))");
    println!("cargo::rustc-check-cfg=cfg(fstack_zc_send)");
    println!("cargo:rerun-if-env-changed=DEP_FSTACK_BACKEND");
    println!("cargo:rerun-if-env-changed=DEP_FSTACK_ZC_SEND");
    let backend = std::env::var("DEP_FSTACK_BACKEND").unwrap_or_else(|_| "kernel".into());
    println!("cargo:rustc-cfg=fstack_backend=\"{backend}\"");
    if std::env::var("DEP_FSTACK_ZC_SEND").as_deref() == Ok("1") {
        println!("cargo:rustc-cfg=fstack_zc_send");
    }
}
