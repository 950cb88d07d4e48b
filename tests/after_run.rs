//! The `after_run` example on the kernel backend: after `Stack::run` returned, every call it
//! makes is refused with `NotRunning`, and its stdout is exactly `tests/data/after_run.stdout`,
//! the same file the lab's `after_run` case compares real F-Stack's output with. Its stdout
//! carries nothing but those lines.

mod support;

use std::io::Read;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

fn example(name: &str) -> PathBuf {
    support::example_bin(name)
}

#[test]
fn after_run_prints_not_running_for_every_call() {
    if fstack::backend() != fstack::Backend::Kernel {
        eprintln!("SKIPPED after_run: needs the kernel backend (lab/e2e checks real F-Stack)");
        return;
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let peer = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = peer.local_addr().unwrap().to_string();
    let out = Command::new(example("after_run"))
        .args(["--connect", &addr, "--listen", "127.0.0.1:0", "--config"])
        .arg(root.join("f-stack.conf"))
        .output()
        .expect("run after_run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "exit {:?}: {stderr}", out.status);
    let expected = std::fs::read_to_string(root.join("tests/data/after_run.stdout")).unwrap();
    assert_eq!(String::from_utf8(out.stdout).unwrap(), expected);
    assert_eq!(
        stderr,
        format!(
            "after_run: backend kernel, connecting to {addr}\n\
             after_run: connected, loop ended; calling every method\n\
             after_run: dropped the socket, listener and poll; 23 of 23 calls refused with \
             NotRunning\n"
        )
    );
    // The kernel backend closed the socket when the example dropped it (or the process ended):
    // the peer reads end of stream and nothing else.
    let (mut accepted, _) = peer.accept().unwrap();
    accepted
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut rest = Vec::new();
    accepted.read_to_end(&mut rest).unwrap();
    assert_eq!(rest, b"");
}
