//! `fstack::rt`'s runtime, sockets, join handles and timers belong to the F-Stack thread:
//! these programs must not compile.

#[test]
fn rt_handles_are_not_send_or_sync() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui_rt/*.rs");
}
