//! Helpers for the tests that run the example programs.
#![allow(dead_code)]

use std::path::PathBuf;

pub mod process;

/// Builds the example `name` with cargo and returns the path cargo reports for it, so a test
/// never runs a stale or guessed binary. The build goes to a target directory of its own under
/// `CARGO_TARGET_TMPDIR`: `cargo test` holds the main target directory's lock while tests run.
pub fn example_bin(name: &str) -> PathBuf {
    let target = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("examples");
    let mut cmd = std::process::Command::new(env!("CARGO"));
    cmd.args([
        "build",
        "--quiet",
        "--message-format=json",
        "--example",
        name,
    ])
    .arg("--manifest-path")
    .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
    .arg("--target-dir")
    .arg(&target);
    if !cfg!(debug_assertions) {
        cmd.arg("--release");
    }
    let out = cmd.output().expect("run cargo build");
    assert!(
        out.status.success(),
        "cargo build --example {name} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["reason"] == "compiler-artifact" && v["target"]["name"] == name)
        .find_map(|v| v["executable"].as_str().map(PathBuf::from))
        .unwrap_or_else(|| panic!("cargo reported no executable for example {name}"))
}

/// The Python interpreter (`PYTHON`, else `python3`) when it can import the `iceoryx2`
/// package, for the tests that run `examples/strategy_demo.py`. Without it: `None` and a
/// SKIPPED line naming `what` (if not empty), except in CI (`CI` set), where it fails.
pub fn python_with_iceoryx2(what: &str) -> Option<String> {
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let ok = std::process::Command::new(&python)
        .args(["-c", "import iceoryx2"])
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        return Some(python);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{python} cannot import iceoryx2 (CI installs it: python3 -m pip install 'iceoryx2==0.10.*')"
    );
    let what = if what.is_empty() {
        String::new()
    } else {
        format!(" {what}")
    };
    eprintln!("SKIPPED{what}: {python} cannot import iceoryx2 (python3 -m pip install 'iceoryx2==0.10.*')");
    None
}
