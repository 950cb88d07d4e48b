// Real F-Stack needs link arguments that cargo does not propagate from a library (see the
// README's "Using a real F-Stack"); the kernel backend needs none.
fn main() {
    if let Ok(args) = std::env::var("DEP_FSTACK_LINK_ARGS") {
        for arg in args.split_whitespace() {
            println!("cargo:rustc-link-arg={arg}");
        }
    }
}
