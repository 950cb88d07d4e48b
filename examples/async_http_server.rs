//! `http_server`'s page served by hyper 1.x on `fstack::rt`: async/await inside the F-Stack
//! loop, hyper driving `fstack::rt::TcpStream`s through hyper-util's `TokioIo`.
//!
//! ```text
//! cargo run --example async_http_server -- [--listen ADDR:PORT] [--config FILE]
//!     [--max-connections N]
//! ```
//! Defaults: `--listen 0.0.0.0:80`, `--config f-stack.conf`, `--max-connections 1024`. GET and
//! HEAD of any path get the page (`fstack_examples::http::PAGE`, byte-identical to
//! `http_server`'s) with keep-alive; other methods get 501. Hostile clients are bounded: hyper
//! caps a request head (about 400 KiB, 100 headers), a connection with no traffic for 60 s is
//! closed (hyper alone would keep it forever), and beyond `--max-connections` new connections
//! are closed at once (counted in the summary). Runs until Ctrl-C/SIGTERM, then closes every connection inside
//! the loop and prints one summary line. Bad arguments: one line on stderr, exit status 2.

use std::cell::Cell;
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

    /// Most connections served at once; connections beyond are closed as soon as accepted.
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
    refused: Cell<u64>,
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
    let result = runtime.block_on(stack, serve(cli.listen, cli.max_connections, stats.clone()));
    // A server that never started has nothing to sum up: its error is the one line.
    if stats.started.get() {
        // lab/e2e matches the start of this line: new counters go at its end.
        eprintln!(
            "async_http_server: stopped; {} connections, {} requests, {} closed at shutdown, {} \
         refused at the connection limit",
            stats.connections.get(),
            stats.requests.get(),
            stats.open.get(),
            stats.refused.get()
        );
    }
    match result {
        Ok(r) => r,
        Err(RunError::Shutdown) => Ok(()),
        Err(e) => Err(e.to_string()),
    }
}

async fn serve(listen: SocketAddr, max: usize, stats: Rc<Stats>) -> Result<(), String> {
    let max = max as u64;
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
        if stats.open.get() >= max {
            // Dropped here: closed at once, the client sees the connection end.
            stats.refused.set(stats.refused.get() + 1);
            continue;
        }
        // Small responses: do not wait for Nagle.
        let _ = conn.set_nodelay(true);
        stats.connections.set(stats.connections.get() + 1);
        stats.open.set(stats.open.get() + 1);
        let stats = stats.clone();
        rt::spawn(async move {
            connection(conn, &stats).await;
            stats.open.set(stats.open.get() - 1);
        });
    }
}

/// Serves one connection until the client closes it, an error, or [`IDLE_TIMEOUT`] without
/// traffic.
async fn connection(conn: TcpStream, stats: &Rc<Stats>) {
    let last = Rc::new(Cell::new(Instant::now()));
    let io = TokioIo::new(Activity {
        inner: conn,
        last: last.clone(),
    });
    let service = hyper::service::service_fn(|req| {
        stats.requests.set(stats.requests.get() + 1);
        std::future::ready(Ok::<_, Infallible>(respond(&req)))
    });
    let mut served = pin!(hyper::server::conn::http1::Builder::new()
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
