//! `http_server`'s page served by hyper 1.x on `fstack::rt`: async/await inside the F-Stack
//! loop, hyper driving `fstack::rt::TcpStream`s through hyper-util's `TokioIo`.
//!
//! ```text
//! cargo run --example async_http_server -- [--listen ADDR:PORT] [--config FILE]
//!     [--header-timeout SECS] [--max-connections N]
//! ```
//! Defaults: `--listen 0.0.0.0:80`, `--config f-stack.conf`, `--header-timeout 10`,
//! `--max-connections 1024`. GET and HEAD of any path get the page
//! (`fstack_examples::http::PAGE`, byte-identical to `http_server`'s) with keep-alive; other
//! methods get 501. Hostile clients are bounded: hyper caps a request head (about 400 KiB, 100
//! headers) and closes a connection whose next request head is not complete `--header-timeout`
//! seconds after the connection became ready for it (accepted, or the previous response
//! written): hyper's `header_read_timeout`, which hyper arms before the first byte, so an idle
//! keep-alive connection is closed after `--header-timeout` too (hyper's timer runs on
//! `fstack::rt`'s, `fstack_examples::hyper_timer`). A connection with no traffic for 60 s
//! while hyper is not waiting for a head (a client that stops reading its response) is closed
//! (hyper alone would keep it forever), and at `--max-connections` the connection idle the
//! longest is closed to admit the new one (counted in the summary). Runs until Ctrl-C/SIGTERM, then
//! closes every connection inside the loop and prints one summary line. Bad arguments: one
//! line on stderr, exit status 2.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::{pin, Pin};
use std::process::ExitCode;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::Parser;
use fstack::rt::{self, RunError, TcpListener, TcpStream};
use fstack::{ShutdownSignal, Stack, StackOptions};
use fstack_examples::args;
use fstack_examples::http::PAGE;
use fstack_examples::hyper_timer::FstackTimer;
use futures_util::future::{select, Either};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE, SERVER};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

/// A connection with no bytes in either direction for this long is closed.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// hyper 1.x serving F-Stack's helloworld page on fstack::rt (async/await in the F-Stack
/// loop), with keep-alive, until Ctrl-C or SIGTERM.
#[derive(Parser, Debug)]
#[command(name = "async_http_server", version, args_override_self = true)]
struct Cli {
    /// Address and port to listen on.
    #[arg(long, value_name = "ADDR:PORT", default_value = "0.0.0.0:80", value_parser = args::socket_addr)]
    listen: SocketAddr,

    /// F-Stack config file.
    #[arg(long, value_name = "FILE", default_value = "f-stack.conf", value_parser = args::existing_file)]
    config: PathBuf,

    /// Seconds a client has to send a complete request head, from the moment the connection
    /// is ready for one (accepted, or the previous response written; so also the most an idle
    /// keep-alive connection stays open); then the connection is closed. Decimals allowed.
    #[arg(long, value_name = "SECS", default_value = "10", allow_negative_numbers = true,
          value_parser = args::seconds)]
    header_timeout: Duration,

    /// Most connections served at once; at the limit the connection idle the longest is
    /// closed to admit a new one.
    #[arg(long, value_name = "N", default_value_t = 1024, allow_negative_numbers = true,
          value_parser = args::positive)]
    max_connections: usize,
}

fn main() -> ExitCode {
    let cli = match args::parse::<Cli>() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    args::exit("async_http_server", run(cli))
}

#[derive(Debug, Default)]
struct Stats {
    connections: Cell<u64>,
    requests: Cell<u64>,
    open: Cell<u64>,
    evicted: Cell<u64>,
    /// The listener is bound: from then on a summary is worth printing.
    started: Cell<bool>,
}

fn run(cli: Cli) -> Result<(), String> {
    let shutdown =
        ShutdownSignal::install().map_err(|e| format!("installing signal handlers: {e}"))?;
    let stack = Stack::init(StackOptions::new(&cli.config)).map_err(|e| e.to_string())?;
    let runtime = rt::Runtime::builder()
        .shutdown(shutdown)
        .build()
        .map_err(|e| format!("async runtime: {e}"))?;
    let stats = Rc::new(Stats::default());
    let limits = Limits {
        max: cli.max_connections,
        header_timeout: cli.header_timeout,
    };
    let result = runtime.block_on(stack, serve(cli.listen, limits, stats.clone()));
    // A server that never started has nothing to sum up: its error is the one line.
    if stats.started.get() {
        // lab/e2e matches the start of this line: new counters go at its end.
        eprintln!(
            "async_http_server: stopped; {} connections, {} requests, {} closed at shutdown, {} \
         evicted at the connection limit",
            stats.connections.get(),
            stats.requests.get(),
            stats.open.get(),
            stats.evicted.get()
        );
    }
    match result {
        Ok(r) => r,
        Err(RunError::Shutdown) => Ok(()),
        Err(e) => Err(e.to_string()),
    }
}

#[derive(Debug, Clone, Copy)]
struct Limits {
    max: usize,
    header_timeout: Duration,
}

/// The connections being served: when each last moved bytes, and its task.
type Open = Rc<RefCell<HashMap<u64, (Rc<Cell<Instant>>, rt::JoinHandle<()>)>>>;

/// Removes its connection from [`Open`] when the task ends, aborted or not. The open count
/// is not its business: a task dropped at shutdown still counts as closed at shutdown.
struct Served {
    id: u64,
    open: Open,
}

impl Drop for Served {
    fn drop(&mut self) {
        // An evicted connection was taken out already (and is being dropped by `abort`).
        if let Ok(mut open) = self.open.try_borrow_mut() {
            open.remove(&self.id);
        }
    }
}

async fn serve(listen: SocketAddr, limits: Limits, stats: Rc<Stats>) -> Result<(), String> {
    let open: Open = Rc::default();
    let mut next_id = 0u64;
    let listener = TcpListener::bind(listen).map_err(|e| format!("listening on {listen}: {e}"))?;
    let bound = listener.local_addr().map_err(|e| e.to_string())?;
    stats.started.set(true);
    eprintln!(
        "async_http_server: backend {}, listening on http://{bound}/ (Ctrl-C stops)",
        fstack::backend()
    );
    loop {
        let conn = match listener.accept().await {
            Ok((conn, _peer)) => conn,
            Err(e) => {
                // Out of descriptors or memory: say so, let connections finish, go on.
                eprintln!("async_http_server: accept: {e}");
                rt::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        if open.borrow().len() >= limits.max {
            // Like http_server: the connection idle the longest makes room (a client that
            // holds connections open without using them cannot lock others out).
            let victim = open
                .borrow()
                .iter()
                .min_by_key(|(_, (last, _))| last.get())
                .map(|(id, _)| *id);
            let taken = victim.and_then(|id| open.borrow_mut().remove(&id));
            if let Some((_, task)) = taken {
                // Outside the borrow: dropping the task runs its `Served` guard.
                task.abort();
                stats.open.set(stats.open.get() - 1);
                stats.evicted.set(stats.evicted.get() + 1);
            }
        }
        // Small responses: do not wait for Nagle.
        let _ = conn.set_nodelay(true);
        stats.connections.set(stats.connections.get() + 1);
        stats.open.set(stats.open.get() + 1);
        next_id += 1;
        let last = Rc::new(Cell::new(Instant::now()));
        let served = Served {
            id: next_id,
            open: open.clone(),
        };
        let task = rt::spawn({
            let (last, stats) = (last.clone(), stats.clone());
            async move {
                let _served = served;
                connection(conn, last, limits, &stats).await;
                stats.open.set(stats.open.get() - 1);
            }
        });
        open.borrow_mut().insert(next_id, (last, task));
    }
}

/// Serves one connection until the client closes it, an error, or [`IDLE_TIMEOUT`] without
/// traffic.
async fn connection(conn: TcpStream, last: Rc<Cell<Instant>>, limits: Limits, stats: &Stats) {
    let io = TokioIo::new(Activity {
        inner: conn,
        last: last.clone(),
    });
    let service = hyper::service::service_fn(|req| {
        stats.requests.set(stats.requests.get() + 1);
        std::future::ready(Ok::<_, Infallible>(respond(&req)))
    });
    let mut served = pin!(hyper::server::conn::http1::Builder::new()
        .timer(FstackTimer)
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true)
        .serve_connection(io, service));
    loop {
        let idle = rt::sleep_until(last.get() + IDLE_TIMEOUT);
        match select(served.as_mut(), pin!(idle)).await {
            // Errors are the client's (a malformed request got 400, a reset): nothing to do.
            Either::Left(_) => return,
            Either::Right(((), _)) if last.get().elapsed() >= IDLE_TIMEOUT => return,
            Either::Right(_) => {} // traffic meanwhile: wait again from the last byte
        }
    }
}

/// The page for GET and HEAD (hyper leaves HEAD's body out), 501 otherwise.
fn respond(req: &Request<Incoming>) -> Response<Full<Bytes>> {
    let (status, body) = match *req.method() {
        Method::GET | Method::HEAD => (StatusCode::OK, Bytes::from_static(PAGE.as_bytes())),
        _ => (
            StatusCode::NOT_IMPLEMENTED,
            Bytes::from_static(b"only GET and HEAD are served\n"),
        ),
    };
    let mut resp = Response::new(Full::new(body));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(SERVER, HeaderValue::from_static("fstack-rs"));
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    resp
}

/// A stream that notes when bytes last moved, for the idle timeout.
struct Activity {
    inner: TcpStream,
    last: Rc<Cell<Instant>>,
}

impl Activity {
    fn note<T>(&self, p: &Poll<io::Result<T>>) {
        if matches!(p, Poll::Ready(Ok(_))) {
            self.last.set(Instant::now());
        }
    }
}

impl tokio::io::AsyncRead for Activity {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let p = Pin::new(&mut self.inner).poll_read(cx, buf);
        self.note(&p);
        p
    }
}

impl tokio::io::AsyncWrite for Activity {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let p = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.note(&p);
        p
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let p = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.note(&p);
        p
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
