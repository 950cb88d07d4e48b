fn assert_send<T: Send>() {}
fn assert_sync<T: Sync>() {}

fn main() {
    assert_send::<fstack::rt::Runtime>();
    assert_send::<fstack::rt::TcpStream>();
    assert_send::<fstack::rt::TcpListener>();
    assert_send::<fstack::rt::UdpSocket>();
    assert_send::<fstack::rt::JoinHandle<()>>();
    assert_send::<fstack::rt::Sleep>();
    assert_sync::<fstack::rt::TcpStream>();
}
