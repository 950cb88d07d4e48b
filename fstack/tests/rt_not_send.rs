//! `fstack::rt`'s runtime, sockets, join handles and timers belong to the F-Stack thread:
//! none of them is `Send` or `Sync`, except `SyncSleep`, plain data for hyper's timer
//! (checked at compile time: this file does not build otherwise).

use static_assertions::{assert_impl_all, assert_not_impl_any};

assert_impl_all!(fstack::rt::SyncSleep: Send, Sync, Unpin);

assert_not_impl_any!(fstack::rt::Runtime: Send, Sync);
assert_not_impl_any!(fstack::rt::TcpStream: Send, Sync);
assert_not_impl_any!(fstack::rt::TcpListener: Send, Sync);
assert_not_impl_any!(fstack::rt::UdpSocket: Send, Sync);
assert_not_impl_any!(fstack::rt::JoinHandle<()>: Send, Sync);
assert_not_impl_any!(fstack::rt::Sleep: Send, Sync);
assert_not_impl_any!(fstack::rt::Interval: Send, Sync);

#[test]
fn rt_handles_are_not_send_or_sync() {
    // The assertions above are the test; this makes `cargo test` list it.
}
