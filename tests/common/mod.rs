//! Helpers shared by the integration tests. Each test binary is its own process, and F-Stack
//! can be initialised once per process: a test file runs all its scenarios in one loop.
#![allow(dead_code)]

use std::ops::ControlFlow;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use fstack::{Backend, Stack, StackOptions};

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

/// The repository's f-stack.conf.
pub fn config_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("f-stack.conf")
}

/// True (after saying why) when these tests need kernel sockets on loopback but the build links
/// real F-Stack, whose own end-to-end tests live elsewhere.
pub fn skip_unless_kernel_backend(test: &str) -> bool {
    if fstack::backend() != Backend::Kernel {
        eprintln!(
            "SKIPPED {test}: needs the kernel backend (linked backend: {})",
            fstack::backend()
        );
        return true;
    }
    false
}

/// Raises the soft descriptor limit to the hard one (1,000 connections need 2,000+ fds).
pub fn raise_fd_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit read and write a valid rlimit struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

/// Deterministic, position-dependent test bytes: a byte lost, duplicated or reordered anywhere
/// changes what follows.
pub struct Pattern {
    state: u64,
}

impl Pattern {
    pub fn new(seed: u64) -> Pattern {
        Pattern { state: seed | 1 }
    }

    pub fn fill(&mut self, buf: &mut [u8]) {
        for b in buf {
            self.state ^= self.state << 13;
            self.state ^= self.state >> 7;
            self.state ^= self.state << 17;
            *b = self.state as u8;
        }
    }
}

/// One independent piece of a test, advanced once per loop iteration.
pub trait Scenario {
    fn name(&self) -> &'static str;
    /// `None` while running, then the outcome.
    fn step(&mut self) -> Option<Result<(), String>>;
}

/// Initialises F-Stack with the repository config and runs every scenario in one loop until
/// all finish or `limit` passes; panics listing every failure or unfinished scenario.
pub fn run_scenarios(limit: Duration, make: impl FnOnce() -> Vec<Box<dyn Scenario>>) {
    let stack = Stack::init(StackOptions::new(config_path())).expect("ff_init");
    let mut make = Some(make);
    type Outcome = Option<Result<(), String>>;
    let mut scenarios: Vec<(Box<dyn Scenario>, Outcome)> = Vec::new();
    let deadline = Instant::now() + limit;
    stack.run(|| {
        // Sockets may only be created inside the running loop.
        if let Some(make) = make.take() {
            scenarios = make().into_iter().map(|s| (s, None)).collect();
        }
        let mut pending = false;
        for (scenario, outcome) in scenarios.iter_mut() {
            if outcome.is_none() {
                *outcome = scenario.step();
                pending |= outcome.is_none();
            }
        }
        if !pending || Instant::now() > deadline {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    });
    let mut failures = Vec::new();
    for (scenario, outcome) in &scenarios {
        match outcome {
            Some(Ok(())) => eprintln!("ok: {}", scenario.name()),
            Some(Err(e)) => failures.push(format!("{}: {e}", scenario.name())),
            None => failures.push(format!(
                "{}: did not finish within {limit:?}",
                scenario.name()
            )),
        }
    }
    assert!(
        failures.is_empty(),
        "failed scenarios:\n{}",
        failures.join("\n")
    );
}
