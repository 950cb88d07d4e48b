//! A WebSocket client on async TLS on F-Stack: tokio-tungstenite over `fstack_tls`'s
//! `AsyncTlsStream` over `fstack::rt::TcpStream`, all on the F-Stack thread.
//!
//! ```text
//! cargo run --example async_wss_client -- [--ca-file PEM] [--resolve HOST:PORT:ADDR] \
//!     [--count N] [--connect-timeout SECS] [--config FILE] wss://HOST[:PORT]/PATH
//! ```
//! Resolves HOST with the kernel's resolver before the loop starts (F-Stack has none) unless
//! `--resolve` names the address, verifies the server certificate against `--ca-file`
//! (default: the system CA bundle, honouring `SSL_CERT_FILE`), and prints each text message
//! on its own line of stdout. Pings are answered. TCP connect, TLS handshake and WebSocket
//! upgrade together may take `--connect-timeout` seconds (default 10, like `binance_ticker`'s);
//! Ctrl-C/SIGTERM during them exits 0 at once with one line naming the step. After `--count`
//! messages (default: no limit), or on Ctrl-C/SIGTERM, it sends a close frame, waits (at most
//! 5 s) for the server's, ends TLS with close_notify and exits 0. Any failure (TLS
//! verification names the check that failed, a timeout names the step that stalled) is one
//! line on stderr and exit 1; a bad command line exits 2. Messages are limited by
//! tungstenite's defaults: 64 MiB per message and 16 MiB per frame; a larger one ends the
//! connection with an error.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use fstack::rt::{self, TcpStream};
use fstack::{ShutdownSignal, Stack, StackOptions};
use fstack_binance::cli::Resolve;
use fstack_examples::args;
use fstack_tls::TlsConnector;
use futures_util::future::{select, Either};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

/// How long the closing handshake may take.
const CLOSE_WAIT: Duration = Duration::from_secs(5);
/// How often the Ctrl-C flag is checked.
const SIGNAL_CHECK: Duration = Duration::from_millis(50);

/// A WebSocket client over async TLS on F-Stack: prints each text message on its own line.
#[derive(Parser, Debug)]
#[command(name = "async_wss_client", version, args_override_self = true)]
struct Cli {
    /// Trust anchors (PEM) instead of the system CA bundle (which honours SSL_CERT_FILE).
    #[arg(long, value_name = "PEM", value_parser = args::existing_file)]
    ca_file: Option<PathBuf>,
    /// Connect to ADDR when the URL's HOST:PORT is this one, instead of resolving HOST (like
    /// curl's --resolve).
    #[arg(long, value_name = "HOST:PORT:ADDR", value_parser = args::resolve)]
    resolve: Option<Resolve>,
    /// Close after N text messages (default: run until Ctrl-C or the server closes).
    #[arg(long, value_name = "N", allow_negative_numbers = true,
          value_parser = clap::value_parser!(u64).range(1..))]
    count: Option<u64>,
    /// Give up when TCP connect, TLS handshake and WebSocket upgrade together take longer
    /// than SECS (the error names the step that stalled).
    #[arg(long, value_name = "SECS", default_value = "10", allow_negative_numbers = true,
          value_parser = args::seconds)]
    connect_timeout: Duration,
    /// F-Stack configuration file.
    #[arg(long, value_name = "FILE", default_value = "f-stack.conf", value_parser = args::existing_file)]
    config: PathBuf,
    /// wss://HOST[:PORT]/PATH
    #[arg(value_name = "URL", value_parser = parse_url)]
    url: WssUrl,
}

/// What the connection needs from the URL.
#[derive(Debug, Clone)]
struct WssUrl {
    /// Host name (lowercase) or IP literal: dialed, sent as SNI, verified.
    host: String,
    port: u16,
    /// The URL as given, for the upgrade request.
    text: String,
}

fn parse_url(s: &str) -> Result<WssUrl, String> {
    let (_, host, port) = args::tls_url(s, "wss")?;
    Ok(WssUrl {
        host,
        port,
        text: s.to_owned(),
    })
}

fn main() -> ExitCode {
    let cli = match args::parse::<Cli>() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    // One line, whatever the message contains.
    args::exit(
        "async_wss_client",
        run(cli).map_err(|e| e.replace('\n', " ")),
    )
}

fn run(cli: Cli) -> Result<(), String> {
    let WssUrl { host, port, .. } = &cli.url;
    let addr = match cli
        .resolve
        .as_ref()
        .filter(|r| r.host == *host && r.port == *port)
    {
        Some(r) => SocketAddr::new(r.addr, *port),
        None => lookup(host, *port).map_err(|e| format!("resolving {host}: {e}"))?,
    };
    let mut builder = TlsConnector::builder();
    if let Some(ca) = &cli.ca_file {
        builder = builder.ca_file(ca);
    }
    let connector = builder.build().map_err(|e| e.to_string())?;
    let signal = ShutdownSignal::install().map_err(|e| format!("signal handlers: {e}"))?;
    let stack = Stack::init(StackOptions::new(&cli.config)).map_err(|e| e.to_string())?;
    rt::run(stack, session(cli, addr, connector, signal)).map_err(|e| e.to_string())?
}

/// The kernel's resolver, IPv4 first (run before the loop: it blocks).
fn lookup(host: &str, port: u16) -> Result<SocketAddr, String> {
    let all: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| e.to_string())?
        .collect();
    all.iter()
        .find(|a| a.is_ipv4())
        .or(all.first())
        .copied()
        .ok_or_else(|| "no addresses".to_string())
}

/// Completes once SIGINT or SIGTERM arrived.
async fn interrupted(signal: &ShutdownSignal) {
    let mut check = rt::interval(SIGNAL_CHECK);
    while !signal.requested() {
        check.tick().await;
    }
}

async fn session(
    cli: Cli,
    addr: SocketAddr,
    connector: TlsConnector,
    signal: ShutdownSignal,
) -> Result<(), String> {
    let host = &cli.url.host;
    // The step in progress, for a timeout or an interruption to name.
    let step = std::cell::RefCell::new(format!("connecting to {addr}"));
    let open = async {
        // The error names the address already ("connecting to ADDR failed: ...").
        let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        let _ = tcp.set_nodelay(true);
        *step.borrow_mut() = format!("TLS handshake with {host} ({addr})");
        let tls = connector
            .connect_async(host, tcp)
            .await
            .map_err(|e| format!("TLS handshake with {host} ({addr}): {e}"))?;
        *step.borrow_mut() = format!("WebSocket upgrade at {}", cli.url.text);
        tokio_tungstenite::client_async(cli.url.text.as_str(), tls)
            .await
            .map_err(|e| format!("WebSocket upgrade at {}: {e}", cli.url.text))
    };
    let limit = cli.connect_timeout;
    let open = std::pin::pin!(rt::timeout(limit, open));
    let stop = std::pin::pin!(interrupted(&signal));
    let (mut ws, _response) = match select(open, stop).await {
        Either::Left((Ok(opened), _)) => opened?,
        Either::Left((Err(rt::Elapsed), _)) => {
            return Err(format!(
                "{} timed out (--connect-timeout {})",
                step.borrow(),
                limit.as_secs_f64()
            ))
        }
        Either::Right(((), _)) => {
            eprintln!("async_wss_client: interrupted ({})", step.borrow());
            return Ok(());
        }
    };

    let mut printed = 0u64;
    let mut stdout = std::io::stdout().lock();
    let stop = interrupted(&signal);
    let mut stop = std::pin::pin!(stop);
    let mut by_signal = false;
    while cli.count.is_none_or(|n| printed < n) {
        let next = match select(ws.next(), stop.as_mut()).await {
            Either::Left((next, _)) => next,
            Either::Right(((), _)) => {
                by_signal = true;
                break;
            }
        };
        match next {
            Some(Ok(Message::Text(text))) => {
                use std::io::Write;
                writeln!(stdout, "{text}")
                    .and_then(|()| stdout.flush())
                    .map_err(|e| format!("writing to stdout: {e}"))?;
                printed += 1;
            }
            // tungstenite queues the pong itself; it leaves with the next read or flush.
            Some(Ok(Message::Close(frame))) => {
                let why = frame.map_or_else(
                    || "no code".to_string(),
                    |f| format!("code {}, \"{}\"", u16::from(f.code), f.reason),
                );
                let _ = ws.flush().await;
                return Err(format!(
                    "the server closed the WebSocket after {printed} messages ({why})"
                ));
            }
            Some(Ok(_)) => {} // binary, ping, pong: nothing to print
            Some(Err(e)) => return Err(format!("after {printed} messages: {e}")),
            None => {
                return Err(format!(
                    "the connection ended after {printed} messages without a close frame"
                ))
            }
        }
    }
    // Closing handshake: our close frame, then the server's, bounded in time.
    let closing = async {
        ws.close(None).await?;
        while let Some(m) = ws.next().await {
            m?;
        }
        Ok::<(), tokio_tungstenite::tungstenite::Error>(())
    };
    use tokio_tungstenite::tungstenite::Error as WsError;
    match rt::timeout(CLOSE_WAIT, closing).await {
        Ok(Ok(())) | Ok(Err(WsError::ConnectionClosed)) => {}
        // After our close frame, a server that drops the connection without close_notify
        // (as many do) has nothing more to say that could be lost.
        Ok(Err(WsError::Io(e))) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            return finish(by_signal, printed);
        }
        Ok(Err(e)) => return Err(format!("closing the WebSocket: {e}")),
        Err(_) => return Err(format!("the server did not close within {CLOSE_WAIT:?}")),
    }
    // close_notify, then FIN.
    let mut tls = ws.into_inner();
    let _ = rt::timeout(CLOSE_WAIT, futures_util::AsyncWriteExt::close(&mut tls)).await;
    finish(by_signal, printed)
}

fn finish(by_signal: bool, printed: u64) -> Result<(), String> {
    if by_signal {
        eprintln!("async_wss_client: interrupted; closed after {printed} messages");
    }
    Ok(())
}
