//! One list of `ff_*` functions (`src/functions.rs`): bindgen's allow-list is built from it (and
//! the build fails when the header lacks one of them); this test fails when the kernel header,
//! the kernel implementation or the pregenerated bindings disagree with it.

use std::collections::BTreeSet;
use std::path::Path;

fn read(relative: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The `ff_*` names right after `prefix` and followed by `(` in `text`, skipping comment lines
/// (`//`, `/*`, ` *`).
fn declared(text: &str, prefix: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("//") || trimmed.starts_with("/*") || trimmed.starts_with('*') {
            continue;
        }
        let mut rest = line;
        while let Some(at) = rest.find(prefix) {
            let after = &rest[at + prefix.len()..];
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            let name = &after[..end];
            if name.starts_with("ff_") && after[end..].trim_start().starts_with('(') {
                names.insert(name.to_string());
            }
            rest = &after[end..];
        }
    }
    names
}

fn listed() -> BTreeSet<String> {
    fstack_sys::FUNCTIONS
        .iter()
        .map(|s| s.to_string())
        .collect()
}

#[test]
fn kernel_header_declares_exactly_the_list() {
    // Declarations look like `int ff_socket(...)` or `ssize_t ff_read(...)`.
    assert_eq!(declared(&read("include/fstack_kernel.h"), " "), listed());
}

#[test]
fn kernel_backend_defines_exactly_the_list() {
    // Definitions start a line (`int ff_close(int fd) { ... }`); calls inside bodies are
    // indented, static helpers are not part of the API.
    let text = read("csrc/kernel_backend.c");
    let definitions: String = text
        .lines()
        .filter(|l| !l.starts_with(char::is_whitespace) && !l.starts_with("static"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(declared(&definitions, " "), listed());
}

#[test]
fn pregenerated_bindings_declare_exactly_the_list() {
    assert_eq!(
        declared(&read("src/bindings_pregenerated.rs"), "pub fn "),
        listed()
    );
}

/// On the kernel backend the build generates bindings from the same header: the pregenerated
/// copy (used for docs.rs) must be that output, apart from its first line.
#[test]
fn pregenerated_bindings_are_the_kernel_bindings() {
    if fstack_sys::BACKEND != "kernel" {
        eprintln!("SKIPPED: this build generated its bindings from real F-Stack's headers");
        return;
    }
    let generated = std::fs::read_to_string(concat!(env!("OUT_DIR"), "/bindings.rs")).unwrap();
    let pregenerated = read("src/bindings_pregenerated.rs");
    let body = |s: &str| s.split_once('\n').map(|(_, rest)| rest.to_string());
    assert!(
        body(&generated) == body(&pregenerated),
        "src/bindings_pregenerated.rs is stale: copy {}/bindings.rs over it, keeping its \
         first line",
        env!("OUT_DIR")
    );
}

#[test]
fn fstack_only_functions_are_not_in_the_common_list() {
    for name in fstack_sys::FSTACK_ONLY_FUNCTIONS {
        assert!(!fstack_sys::FUNCTIONS.contains(name), "{name}");
    }
}
