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

/// A bad command line: one line naming the option, exit status 2, nothing on stdout.
#[test]
fn bad_arguments_exit_2_with_one_line() {
    let cases: &[(&[&str], &str)] = &[
        (&["--service", "a/b"], "strategy_demo: invalid value 'a/b' for '--service <NAME>': bus name must be 1 to 64 characters of letters, digits, '_', '.', '-' (see --help)"),
        (&["--service", "feed", "--count", "0"], "strategy_demo: invalid value '0' for '--count <N>': must be at least 1 (see --help)"),
        (&["--service", "feed", "--duration", "-1"], "strategy_demo: invalid value '-1' for '--duration <SECS>': expected a positive number of seconds (see --help)"),
        (&["--service", "feed", "--duration", "nan"], "strategy_demo: invalid value 'nan' for '--duration <SECS>': expected a positive number of seconds (see --help)"),
        (&["--service", "feed", "--command-only"], "strategy_demo: the following required arguments were not provided: <--subscribe <STREAM>|--unsubscribe <STREAM>> (see --help)"),
    ];
    for (args, want) in cases {
        let out = Command::new(support::example_bin("strategy_demo"))
            .args(*args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            format!("{want}\n"),
            "{args:?}"
        );
    }
}
