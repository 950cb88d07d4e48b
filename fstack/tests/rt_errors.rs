//! `fstack::rt::run` on a thread that has a runtime already fails with
//! `RunError::Reactor`, not with a panic of the main task.

mod common;

use fstack::rt::{self, RunError};
use fstack::{Loopback, Stack, StackOptions};

#[test]
fn a_second_runtime_is_a_reactor_error() {
    if common::skip_unless_kernel_backend("rt_errors") {
        return;
    }
    let stack = Stack::init(StackOptions::new(common::config_path()).loopback(Loopback::Allow))
        .expect("ff_init");
    let _first = rt::Runtime::new().expect("runtime");
    let err = rt::run(stack, async {}).expect_err("this thread has a runtime");
    match &err {
        RunError::Reactor(msg) => assert!(msg.contains("already"), "{msg}"),
        other => panic!("expected RunError::Reactor, got {other:?}"),
    }
    assert!(!err.to_string().contains("panicked"), "{err}");
}
