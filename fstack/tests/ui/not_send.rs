fn assert_send<T: Send>() {}

fn main() {
    assert_send::<fstack::Stack>();
    assert_send::<fstack::FStackSocket>();
    assert_send::<fstack::FStackListener>();
    assert_send::<fstack::Poll>();
    assert_send::<fstack::FStackUdpSocket>();
}
