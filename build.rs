// Applies fstack-sys's link arguments (real F-Stack needs `-Wl,-z,nostart-stop-gc`) to the
// examples and tests: cargo does not propagate link arguments from a library's build script.
fn main() {
    println!("cargo:rerun-if-env-changed=DEP_FSTACK_LINK_ARGS");
    if let Ok(args) = std::env::var("DEP_FSTACK_LINK_ARGS") {
        for arg in args.split_whitespace() {
            println!("cargo:rustc-link-arg={arg}");
        }
    }
}
