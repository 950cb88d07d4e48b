//! F-Stack's helloworld in Rust: serves a small HTML page to every GET, with keep-alive,
//! strict request parsing, timeouts and a connection limit (see `fstack_examples::http`).
//!
//! ```text
//! cargo run --example http_server -- [--listen ADDR:PORT] [--config FILE]
//!     [--header-timeout SECS] [--idle-timeout SECS] [--max-connections N]
//! ```
//! Defaults: `--listen 0.0.0.0:80`, `--config f-stack.conf`, `--header-timeout 10`,
//! `--idle-timeout 60`, `--max-connections 1024`; `--help` says what each does. Stops cleanly
//! on Ctrl-C/SIGTERM. Bad arguments: one line on stderr, exit status 2.

use std::fmt;
use std::net::SocketAddr;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::process::ExitCode;
use std::str::FromStr;
use std::time::Duration;

use clap::Parser;
use fstack::{ShutdownSignal, Stack, StackOptions};
use fstack_examples::args;
use fstack_examples::http::{self, HttpServer, ServerConfig};

/// A keep-alive HTTP/1.1 server on F-Stack (F-Stack's helloworld): answers GET and HEAD with
/// a small page until Ctrl-C or SIGTERM.
///
/// Requests are parsed strictly (RFC 9112): an ambiguous or malformed request gets 400 and the
/// connection closes. Slow clients are cut off by the header and idle timeouts; at the
/// connection limit the longest-waiting idle or incomplete connection is closed to admit a new
/// one (logged on stderr).
#[derive(Parser, Debug)]
#[command(name = "http_server", version)]
struct Cli {
    /// Address and port to listen on.
    #[arg(long, value_name = "ADDR:PORT", default_value = "0.0.0.0:80")]
    listen: SocketAddr,

    /// F-Stack config file.
    #[arg(long, value_name = "FILE", default_value = "f-stack.conf", value_parser = args::existing_file)]
    config: PathBuf,

    /// Seconds a client has to send a complete request, head and body, from its first byte
    /// (from the accept for a connection's first request); then 408 and close. Decimals
    /// allowed.
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = Secs(http::DEFAULT_HEADER_TIMEOUT),
        allow_negative_numbers = true
    )]
    header_timeout: Secs,

    /// Seconds a keep-alive connection may sit idle between requests (or a body or response
    /// make no progress) before it is closed. Decimals allowed.
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = Secs(http::DEFAULT_IDLE_TIMEOUT),
        allow_negative_numbers = true
    )]
    idle_timeout: Secs,

    /// Most connections open at once; at the limit the longest-waiting idle or incomplete
    /// connection is closed to admit a new one.
    #[arg(
        long,
        value_name = "N",
        default_value_t = http::DEFAULT_MAX_CONNECTIONS as u32,
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    max_connections: u32,
}

/// A positive number of seconds, decimals allowed.
#[derive(Debug, Clone, Copy)]
struct Secs(Duration);

impl FromStr for Secs {
    type Err = String;
    fn from_str(s: &str) -> Result<Secs, String> {
        let secs: f64 = s
            .parse()
            .map_err(|_| "expected a number of seconds".to_string())?;
        if secs.is_nan() || secs <= 0.0 {
            return Err("must be more than 0 seconds".into());
        }
        Duration::try_from_secs_f64(secs)
            .map(Secs)
            .map_err(|_| "too many seconds".into())
    }
}

impl fmt::Display for Secs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.as_secs_f64())
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help, --version: to stdout, exit 0.
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            let text = e.render().to_string();
            let line = text.lines().next().unwrap_or_default();
            let line = line.strip_prefix("error: ").unwrap_or(line);
            eprintln!("http_server: {line} (see --help)");
            return ExitCode::from(2);
        }
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("http_server: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<(), String> {
    let config = ServerConfig {
        header_timeout: cli.header_timeout.0,
        idle_timeout: cli.idle_timeout.0,
        max_connections: cli.max_connections as usize,
    };
    let listen = cli.listen;
    let shutdown =
        ShutdownSignal::install().map_err(|e| format!("installing signal handlers: {e}"))?;
    let stack = Stack::init(StackOptions::new(&cli.config)).map_err(|e| e.to_string())?;
    let server =
        HttpServer::bind_with(listen, config).map_err(|e| format!("listening on {listen}: {e}"))?;
    let bound = server.local_addr().map_err(|e| e.to_string())?;
    eprintln!(
        "http_server: backend {}, listening on http://{bound}/ (header timeout {}s, idle \
         timeout {}s, max {} connections; Ctrl-C stops)",
        fstack::backend(),
        cli.header_timeout,
        cli.idle_timeout,
        config.max_connections
    );

    // Everything F-Stack owns is closed inside the loop: on real F-Stack, `ff_run` tears DPDK
    // down when it returns (rte_eal_cleanup), after which nothing can be sent any more.
    let mut server = Some(server);
    let mut summary = None;
    let result = stack.run(|| {
        let Some(srv) = server.as_mut() else {
            return ControlFlow::Break(Ok(()));
        };
        let outcome = if shutdown.requested() {
            Some(Ok(()))
        } else {
            srv.poll_once().err().map(|e| Err(e.to_string()))
        };
        match outcome {
            None => ControlFlow::Continue(()),
            Some(result) => {
                let closed = srv.close_all();
                summary = Some((srv.stats(), closed));
                server = None; // closes the listener and the poll
                ControlFlow::Break(result)
            }
        }
    });
    let (stats, closed) = summary.unwrap_or_default();
    // lab/e2e matches the start of this line: new counters go at its end.
    eprintln!(
        "http_server: stopped; {} connections, {} requests, {closed} closed at shutdown; {} \
         timed out, {} shed at the connection limit, peak {} open",
        stats.accepted, stats.requests, stats.timed_out, stats.shed, stats.peak_connections
    );
    result.unwrap_or(Ok(()))
}
