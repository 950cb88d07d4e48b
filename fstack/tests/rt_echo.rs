//! `fstack::rt` on the kernel backend: 1,000 concurrent async connections (connected and
//! accepted by async sockets on the same runtime) each echo 16 KiB of their own pattern
//! byte-exact, and UDP datagrams come back unchanged.

mod common;

use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use common::Pattern;
use fstack::rt::{self, TcpListener, TcpStream, UdpSocket};
use fstack::{Loopback, Stack, StackOptions};
use futures_util::{AsyncReadExt, AsyncWriteExt};

const CONNS: usize = 1000;
const BYTES: usize = 16 << 10;

async fn echo(mut conn: TcpStream) -> std::io::Result<u64> {
    let mut buf = vec![0u8; 4096];
    let mut total = 0u64;
    loop {
        let n = conn.read(&mut buf).await?;
        if n == 0 {
            conn.close().await?;
            return Ok(total);
        }
        conn.write_all(&buf[..n]).await?;
        total += n as u64;
    }
}

async fn client(addr: SocketAddr, seed: u64) -> std::io::Result<()> {
    let mut want = vec![0u8; BYTES];
    Pattern::new(seed).fill(&mut want);
    let conn = TcpStream::connect(addr).await?;
    let (mut rd, mut wr) = conn.split();
    let send = async {
        // Uneven chunks, so that writes and reads interleave differently per connection.
        for chunk in want.chunks(1000 + (seed as usize % 700)) {
            wr.write_all(chunk).await?;
        }
        wr.close().await
    };
    let recv = async {
        let mut got = Vec::with_capacity(BYTES);
        rd.read_to_end(&mut got).await?;
        Ok::<_, std::io::Error>(got)
    };
    let (sent, got) = futures_util::future::join(send, recv).await;
    sent?;
    let got = got?;
    assert_eq!(got.len(), BYTES, "connection {seed}: length");
    assert!(got == want, "connection {seed}: bytes differ");
    Ok(())
}

#[test]
fn thousand_connections_and_udp_echo() {
    if common::skip_unless_kernel_backend("rt_echo") {
        return;
    }
    common::raise_fd_limit();
    let stack = Stack::init(StackOptions::new(common::config_path()).loopback(Loopback::Allow))
        .expect("ff_init");
    let out = rt::run(stack, async {
        let listener = Rc::new(TcpListener::bind("127.0.0.1:0".parse().unwrap())?);
        let addr = listener.local_addr()?;
        let server = {
            let listener = listener.clone();
            rt::spawn(async move {
                let mut echoes = Vec::new();
                for _ in 0..CONNS {
                    let (conn, _) = listener.accept().await?;
                    echoes.push(rt::spawn(echo(conn)));
                }
                let mut total = 0;
                for e in echoes {
                    total += e.await.expect("echo task")?;
                }
                Ok::<u64, std::io::Error>(total)
            })
        };
        let clients: Vec<_> = (0..CONNS as u64)
            .map(|seed| rt::spawn(client(addr, seed)))
            .collect();
        for (i, c) in clients.into_iter().enumerate() {
            c.await
                .expect("client task")
                .unwrap_or_else(|e| panic!("client {i}: {e}"));
        }
        let total = server.await.expect("server task")?;
        assert_eq!(total, (CONNS * BYTES) as u64);

        // A refused connect fails with the address (bind a port, close it, connect to it).
        let closed = TcpListener::bind("127.0.0.1:0".parse().unwrap())?.local_addr()?;
        let err = TcpStream::connect(closed)
            .await
            .expect_err("nothing listens");
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused, "{err}");
        assert!(err.to_string().contains(&closed.to_string()), "{err}");

        // UDP: two sockets, datagrams of several sizes, in order on loopback.
        let a = UdpSocket::bind("127.0.0.1:0".parse().unwrap())?;
        let b = UdpSocket::bind("127.0.0.1:0".parse().unwrap())?;
        let b_addr = b.local_addr()?;
        let reflector = rt::spawn(async move {
            let mut buf = vec![0u8; 2048];
            for _ in 0..3 {
                let (n, from) = b.recv_from(&mut buf).await?;
                b.send_to(&buf[..n], from).await?;
            }
            Ok::<(), std::io::Error>(())
        });
        for len in [1usize, 64, 1400] {
            let mut msg = vec![0u8; len];
            Pattern::new(len as u64).fill(&mut msg);
            a.send_to(&msg, b_addr).await?;
            let mut buf = vec![0u8; 2048];
            let (n, from) = rt::timeout(Duration::from_secs(5), a.recv_from(&mut buf))
                .await
                .expect("UDP reply within 5 s")?;
            assert_eq!(from, b_addr);
            assert_eq!(&buf[..n], &msg[..]);
        }
        reflector.await.expect("reflector")?;
        Ok::<u64, std::io::Error>(total)
    });
    assert_eq!(out.expect("run").expect("io"), (CONNS * BYTES) as u64);
}
