//! One feed per bus name: a second feed is refused while the first lives, and the name is
//! free again once the first is gone, even when it was killed without cleaning up.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use fstack_bus::{BusConfig, BusPublisher};

#[test]
fn a_second_feed_with_the_same_name_is_refused() {
    let name = format!("excl-{}", std::process::id());
    let first = BusPublisher::new(BusConfig::new(&name)).unwrap();
    let err = BusPublisher::new(BusConfig::new(&name)).err();
    assert_eq!(
        err.map(|e| e.to_string()),
        Some(format!(
            "bus name in use: another running feed already publishes bus {name}"
        ))
    );
    drop(first);
    BusPublisher::new(BusConfig::new(&name)).expect("free again after the first feed ended");
}

/// Run by the test below in a child process: holds bus `BUS_CHILD_FEED` until killed.
#[test]
#[ignore = "helper process of killed_feeds_name_is_reclaimed"]
fn child_feed() {
    let Ok(name) = std::env::var("BUS_CHILD_FEED") else {
        return;
    };
    let mut bus = BusPublisher::new(BusConfig::new(&name)).unwrap();
    bus.open_stream("btcusdt@trade").unwrap();
    println!("ready");
    std::thread::sleep(std::time::Duration::from_secs(120));
}

#[test]
fn killed_feeds_name_is_reclaimed() {
    let name = format!("exclkill-{}", std::process::id());
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_feed", "--ignored", "--nocapture"])
        .env("BUS_CHILD_FEED", &name)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let ready = stdout.lines().map_while(Result::ok).any(|l| l == "ready");
    assert!(ready, "the child feed did not start");
    let second = BusPublisher::new(BusConfig::new(&name));
    assert!(second.is_err(), "a second feed while the first lives");
    child.kill().unwrap(); // SIGKILL: no cleanup of its own
    child.wait().unwrap();
    let mut bus =
        BusPublisher::new(BusConfig::new(&name)).expect("a killed feed's name is reclaimed");
    bus.open_stream("btcusdt@trade").unwrap();
}
