//! Misuse and bad configuration give clear errors, never panics or an exit from inside ff_init.

mod common;

use std::io::ErrorKind;
use std::ops::ControlFlow;

use fstack::{Error, FStackListener, FStackSocket, Poll, Stack, StackOptions};

fn write_temp(name: &str, text: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("fstack-{}-{name}", std::process::id()));
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn init_errors_then_one_successful_init() {
    // Before init, nothing may touch F-Stack.
    let e = Poll::new().unwrap_err();
    assert!(matches!(e, Error::NotInitialized { .. }), "{e:?}");
    assert!(e.to_string().contains("not initialized"), "{e}");
    let e = FStackListener::bind("127.0.0.1:0".parse().unwrap()).unwrap_err();
    assert!(matches!(e, Error::NotInitialized { .. }), "{e:?}");

    // Missing config.
    let e = Stack::init(StackOptions::new("/nonexistent/f-stack.conf")).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, Error::Config { .. }), "{e:?}");
    assert!(
        msg.contains("/nonexistent/f-stack.conf") && msg.contains("No such file"),
        "{msg}"
    );

    // Malformed config: the message names the line.
    let bad = write_temp(
        "bad.conf",
        "[dpdk]\nlcore_mask=1\nidle_sleep=0\nnot an assignment\n",
    );
    let e = Stack::init(StackOptions::new(&bad)).unwrap_err();
    assert!(e.to_string().contains("line 4"), "{e}");
    let bad = write_temp("bad2.conf", "[dpdk]\nlcore_mask=1\npkt_tx_delay=fast\n");
    let e = Stack::init(StackOptions::new(&bad)).unwrap_err();
    assert!(
        e.to_string().contains("pkt_tx_delay must be an integer"),
        "{e}"
    );
    let e = Stack::init(StackOptions::new(write_temp("empty.conf", ""))).unwrap_err();
    assert!(e.to_string().contains("lcore_mask"), "{e}");

    // The config is fine; init succeeds once.
    let stack = Stack::init(
        StackOptions::new(common::config_path())
            .proc_type(fstack::ProcType::Primary)
            .proc_id(0),
    )
    .expect("init with the repository config");
    let e = Stack::init(StackOptions::new(common::config_path())).unwrap_err();
    assert!(matches!(e, Error::AlreadyInitialized), "{e:?}");
    assert!(e.to_string().contains("already initialized"), "{e}");

    // F-Stack refuses connects before the loop runs; the error says so.
    let e = FStackSocket::connect("127.0.0.1:9".parse().unwrap()).unwrap_err();
    assert!(matches!(e, Error::NotRunning { .. }), "{e:?}");
    assert!(e.to_string().contains("running F-Stack loop"), "{e}");

    // Another thread is not the F-Stack thread.
    let other = std::thread::spawn(|| Poll::new().map(|_| ()).unwrap_err().to_string())
        .join()
        .unwrap();
    assert!(other.contains("not initialized on this thread"), "{other}");

    if common::skip_unless_kernel_backend("loop part of init_errors") {
        return;
    }
    // Inside the loop, an unknown host is rejected with the OS reason and the call.
    let out = stack.run(|| {
        let e = FStackListener::bind("192.0.2.1:1".parse().unwrap()).unwrap_err();
        ControlFlow::Break((e.kind(), e.to_string()))
    });
    let (kind, msg) = out.expect("loop ended by Break");
    assert_eq!(kind, ErrorKind::AddrNotAvailable);
    assert!(msg.starts_with("ff_bind failed:"), "{msg}");
}
