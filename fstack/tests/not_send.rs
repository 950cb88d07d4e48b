//! Handles bound to the F-Stack thread must not cross threads: these programs must not compile.

#[test]
fn handles_are_not_send_or_sync() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
