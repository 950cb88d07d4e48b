//! The Rust `strategy_demo` without a feed: it says what it is waiting for, once, and a
//! command to a feed that does not exist fails in words.

mod support;

use std::process::Command;

#[test]
fn waiting_for_a_missing_feed_is_said_once() {
    let bus = format!("nofeed-{}", std::process::id());
    let out = Command::new(support::example_bin("strategy_demo"))
        .args(["--service", &bus, "--duration", "1.5"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let waiting = format!("strategy_demo: waiting for bus {bus} ...");
    assert_eq!(
        stderr.lines().filter(|l| *l == waiting).count(),
        1,
        "{stderr}"
    );
    assert!(stderr
        .lines()
        .last()
        .unwrap()
        .starts_with("strategy_demo: received 0,"));
}

#[test]
fn a_command_to_a_missing_feed_says_so() {
    let bus = format!("nofeedcmd-{}", std::process::id());
    let out = Command::new(support::example_bin("strategy_demo"))
        .args([
            "--service",
            &bus,
            "--subscribe",
            "btcusdt@trade",
            "--command-only",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "strategy_demo: no feed publishes bus {bus} (command service {bus}/cmd does not exist)\n"
        )
    );
}
