fn assert_sync<T: Sync>() {}

fn main() {
    assert_sync::<fstack::Stack>();
    assert_sync::<fstack::FStackSocket>();
    assert_sync::<fstack::FStackListener>();
    assert_sync::<fstack::Poll>();
    assert_sync::<fstack::FStackUdpSocket>();
}
