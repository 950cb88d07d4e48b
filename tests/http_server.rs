//! The http_server logic on the kernel backend, in this process: 200 concurrent keep-alive
//! clients (kernel sockets on other threads) all get the page, several times each; hostile
//! requests get errors. The `http_server` example as a process is tested in
//! `tests/http_server_process.rs` (F-Stack is initialised once per process, and this test owns
//! this one's).

#[path = "../fstack/tests/common/mod.rs"]
mod common;
mod http_client;

use std::io::{BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use fstack::{Stack, StackOptions};
use fstack_examples::http::{HttpServer, PAGE};
use http_client::{read_response, read_response_to};

const CLIENTS: usize = 200;
const REQUESTS_PER_CLIENT: usize = 5;

fn client(addr: SocketAddr) -> Result<(), String> {
    let stream = TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut w = stream.try_clone().unwrap();
    let mut r = BufReader::new(stream);
    for _ in 0..REQUESTS_PER_CLIENT {
        w.write_all(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
            .map_err(|e| e.to_string())?;
        let (status, headers, body) = read_response(&mut r)?;
        if status != "HTTP/1.1 200 OK"
            || body != PAGE
            || !headers.contains(&"Connection: keep-alive".to_string())
        {
            return Err(format!("unexpected response {status} {headers:?}"));
        }
    }
    Ok(())
}

fn hostile(addr: SocketAddr) -> Result<(), String> {
    // Two pipelined requests in one write, the second asking to close.
    let s = TcpStream::connect(addr).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    (&s).write_all(
        b"GET / HTTP/1.1\r\nHost: t\r\n\r\nHEAD / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    let mut r = BufReader::new(s);
    let (st, _, body) = read_response(&mut r)?;
    if st != "HTTP/1.1 200 OK" || body != PAGE {
        return Err(format!("pipelined 1: {st}"));
    }
    let (st, h, _) = read_response_to(&mut r, true)?;
    if st != "HTTP/1.1 200 OK" || !h.contains(&"Connection: close".to_string()) {
        return Err(format!("pipelined 2: {st} {h:?}"));
    }
    let mut rest = Vec::new();
    r.read_to_end(&mut rest).map_err(|e| e.to_string())?;
    if !rest.is_empty() {
        return Err("HEAD response had a body or the connection stayed open".into());
    }

    // Garbage gets 400 and a close; an endless head gets 431 and a close.
    for (req, want) in [
        (b"HELLO\r\n\r\n".to_vec(), "HTTP/1.1 400 Bad Request"),
        (
            vec![b'x'; 64 * 1024],
            "HTTP/1.1 431 Request Header Fields Too Large",
        ),
    ] {
        let s = TcpStream::connect(addr).map_err(|e| e.to_string())?;
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let _ = (&s).write_all(&req);
        let mut r = BufReader::new(s);
        let (st, _, _) = read_response(&mut r)?;
        if st != want {
            return Err(format!("expected {want}, got {st}"));
        }
    }
    Ok(())
}

#[test]
fn serves_200_concurrent_keep_alive_clients() {
    if common::skip_unless_kernel_backend("serves_200_concurrent_keep_alive_clients") {
        return;
    }
    let stack = Stack::init(StackOptions::new(common::config_path())).expect("init");
    let (tx, rx) = mpsc::channel::<Result<(), String>>();
    let finished = Arc::new(AtomicUsize::new(0));
    let mut server: Option<HttpServer> = None;
    let deadline = Instant::now() + Duration::from_secs(60);
    let outcome = stack.run(|| {
        let srv = match server.as_mut() {
            Some(s) => s,
            None => {
                let s = HttpServer::bind("127.0.0.1:0".parse().unwrap()).expect("bind");
                let addr = s.local_addr().unwrap();
                for i in 0..=CLIENTS {
                    let (tx, finished) = (tx.clone(), finished.clone());
                    std::thread::spawn(move || {
                        let r = if i == CLIENTS {
                            hostile(addr)
                        } else {
                            client(addr)
                        };
                        let _ = tx.send(r);
                        finished.fetch_add(1, Ordering::SeqCst);
                    });
                }
                server.insert(s)
            }
        };
        if let Err(e) = srv.poll_once() {
            return ControlFlow::Break(Err(e.to_string()));
        }
        if finished.load(Ordering::SeqCst) == CLIENTS + 1 {
            return ControlFlow::Break(Ok(srv.stats()));
        }
        if Instant::now() > deadline {
            return ControlFlow::Break(Err(format!(
                "only {} of {} clients finished",
                finished.load(Ordering::SeqCst),
                CLIENTS + 1
            )));
        }
        ControlFlow::Continue(())
    });
    let stats = outcome.expect("loop ended by Break").expect("server ok");
    let errors: Vec<String> = rx.try_iter().filter_map(Result::err).collect();
    assert!(errors.is_empty(), "client errors: {errors:?}");
    assert_eq!(stats.accepted as usize, CLIENTS + 3);
    assert_eq!(stats.requests as usize, CLIENTS * REQUESTS_PER_CLIENT + 4);
}
