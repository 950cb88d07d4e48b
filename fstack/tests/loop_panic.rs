//! A panic inside the loop closure must not unwind through F-Stack's C frames (which would abort
//! the process): it stops the loop and resumes from `Stack::run`.

mod common;

use std::ops::ControlFlow;
use std::panic::{catch_unwind, AssertUnwindSafe};

use fstack::{Stack, StackOptions};

#[test]
fn panic_in_loop_resumes_from_run() {
    let stack = Stack::init(StackOptions::new(common::config_path())).expect("init");
    let mut calls = 0u32;
    let result = catch_unwind(AssertUnwindSafe(|| {
        stack.run(|| -> ControlFlow<()> {
            calls += 1;
            if calls == 3 {
                panic!("boom in iteration {calls}");
            }
            ControlFlow::Continue(())
        })
    }));
    let payload = result.expect_err("the panic must come out of run");
    let msg = payload
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert_eq!(msg, "boom in iteration 3");
    // The loop stopped right after the panicking iteration.
    assert_eq!(calls, 3);
}
