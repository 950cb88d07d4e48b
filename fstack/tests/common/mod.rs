//! Helpers shared by the integration tests of `fstack` (`fstack/tests/`) and of the repository
//! root (`tests/`, which includes this file with `#[path]`). Each test binary is its own
//! process, and F-Stack can be initialised once per process: a test file runs all its
//! scenarios in one loop.
#![allow(dead_code)]

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fstack::{Backend, Stack, StackOptions};

/// The repository's f-stack.conf (at the root, above `fstack/`).
pub fn config_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|dir| dir.join("f-stack.conf"))
        .find(|path| path.is_file())
        .expect("f-stack.conf at the repository root")
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
