//! Async TLS (`connect_async` / `accept_async`) on `fstack::rt` sockets, kernel backend, one
//! runtime: 64 MiB echoed byte-exact through rustls on both ends (then 4 MiB for every other
//! engine pairing), ended by close_notify; a hostname mismatch fails with the same
//! `VerifyReason` as the blocking-style API.

mod support;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::rc::Rc;

use fstack::rt::{self, TcpListener, TcpStream};
use fstack::{Loopback, Stack, StackOptions};
use fstack_tls::{Engine, Protocol, VerifyReason};
use futures_util::{AsyncReadExt, AsyncWriteExt};
use support::certs::{TestCa, Validity};
use support::{Checker, Combo, Pattern};

const BIG: usize = 64 << 20;
const SMALL: usize = 4 << 20;
const CHUNK: usize = 64 << 10;

fn config_path() -> PathBuf {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../f-stack.conf");
    if repo.exists() {
        return repo;
    }
    support::certs::temp_file("f-stack.conf", "[dpdk]\nlcore_mask=1\n")
}

/// The client sends `total` pattern bytes, the server echoes them, the client checks what
/// comes back; both sides end with close_notify.
async fn transfer(
    combo: Combo,
    ca: Rc<TestCa>,
    listener: Rc<TcpListener>,
    total: usize,
) -> Result<(), String> {
    let leaf = ca.leaf(&["localhost"], Validity::Current);
    let acceptor = combo.acceptor_for(&ca, &leaf);
    let connector = combo.connector_for(&ca);
    let addr: SocketAddr = listener.local_addr().map_err(|e| e.to_string())?;
    let server = rt::spawn(async move {
        let (tcp, _) = listener.accept().await.map_err(|e| e.to_string())?;
        let mut tls = acceptor
            .accept_async(tcp)
            .await
            .map_err(|e| e.to_string())?;
        let mut buf = vec![0u8; 16 << 10];
        let mut echoed = 0usize;
        loop {
            let n = tls
                .read(&mut buf)
                .await
                .map_err(|e| format!("server read: {e}"))?;
            if n == 0 {
                break;
            }
            tls.write_all(&buf[..n])
                .await
                .map_err(|e| format!("server write: {e}"))?;
            echoed += n;
        }
        tls.close()
            .await
            .map_err(|e| format!("server close: {e}"))?;
        Ok::<usize, String>(echoed)
    });
    let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let tls = connector
        .connect_async("localhost", tcp)
        .await
        .map_err(|e| format!("client handshake: {e}"))?;
    assert_eq!(tls.session().protocol_version(), Some(combo.version));
    let (mut rd, mut wr) = tls.split();
    let send = async {
        let mut pattern = Pattern::new(42);
        let mut chunk = vec![0u8; CHUNK];
        let mut sent = 0;
        while sent < total {
            let n = CHUNK.min(total - sent);
            pattern.fill(&mut chunk[..n]);
            wr.write_all(&chunk[..n])
                .await
                .map_err(|e| format!("client write: {e}"))?;
            sent += n;
        }
        wr.close().await.map_err(|e| format!("client close: {e}"))
    };
    let recv = async {
        let mut checker = Checker::new(42);
        let mut buf = vec![0u8; 16 << 10];
        loop {
            let n = rd
                .read(&mut buf)
                .await
                .map_err(|e| format!("client read: {e}"))?;
            if n == 0 {
                return Ok::<usize, String>(checker.received);
            }
            checker.check(&buf[..n]);
        }
    };
    let (sent, received) = futures_util::future::join(send, recv).await;
    sent?;
    assert_eq!(received?, total, "{combo}: bytes back");
    assert_eq!(
        server.await.map_err(|e| e.to_string())??,
        total,
        "{combo}: bytes echoed"
    );
    Ok(())
}

#[test]
fn async_tls_transfers_and_verification() {
    let stack =
        Stack::init(StackOptions::new(config_path()).loopback(Loopback::Allow)).expect("ff_init");
    let out = rt::run(stack, async {
        let ca = Rc::new(TestCa::new("async test CA"));
        let listener = Rc::new(TcpListener::bind("127.0.0.1:0".parse().unwrap()).unwrap());
        let mut combos = support::combos();
        combos.retain(|c| c.version == Protocol::Tls13 || c.client == c.server);
        // rustls on both ends first, with the big transfer.
        combos.sort_by_key(|c| !(c.client == Engine::Rustls && c.server == Engine::Rustls));
        for (i, combo) in combos.into_iter().enumerate() {
            let total = if i == 0 { BIG } else { SMALL };
            transfer(combo, ca.clone(), listener.clone(), total)
                .await
                .map_err(|e| format!("{combo}: {e}"))?;
            eprintln!("{combo}: {total} bytes echoed byte-exact");
        }

        // A certificate for another name: the same error as the blocking-style API.
        let leaf = ca.leaf(&["other.example"], Validity::Current);
        let combo = support::combos()[0];
        let acceptor = combo.acceptor_for(&ca, &leaf);
        let addr = listener.local_addr().unwrap();
        let l = listener.clone();
        let server = rt::spawn(async move {
            let (tcp, _) = l.accept().await.unwrap();
            acceptor.accept_async(tcp).await.map(|_| ())
        });
        let tcp = TcpStream::connect(addr).await.unwrap();
        let err = combo
            .connector_for(&ca)
            .connect_async("localhost", tcp)
            .await
            .expect_err("hostname mismatch");
        let failure = err.verify_failure().expect("a verify failure");
        assert!(failure.contains(VerifyReason::HostnameMismatch), "{err}");
        assert!(server.await.unwrap().is_err(), "the server sees the alert");
        Ok::<(), String>(())
    });
    out.expect("run").expect("transfers");
}
