//! F-Stack's helloworld in Rust: serves a small HTML page to every GET, with keep-alive.
//!
//! ```text
//! cargo run --example http_server -- [--listen ADDR:PORT] [--config FILE]
//! ```
//! Defaults: `--listen 0.0.0.0:80`, `--config f-stack.conf`. Stops cleanly on Ctrl-C/SIGTERM.

use std::net::SocketAddr;
use std::ops::ControlFlow;
use std::process::ExitCode;

use fstack::{ShutdownSignal, Stack, StackOptions};
use fstack_examples::{args, http::HttpServer};

const USAGE: &str = "usage: http_server [--listen ADDR:PORT] [--config FILE]";

fn main() -> ExitCode {
    args::exit("http_server", run())
}

fn run() -> Result<(), String> {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut listen: SocketAddr = "0.0.0.0:80".parse().expect("valid default");
    let mut config = "f-stack.conf".to_string();
    let mut i = 0;
    while i < argv.len() {
        if let Some(v) = args::value(&argv, &mut i, "--listen")? {
            listen = v
                .parse()
                .map_err(|_| format!("--listen: `{v}` is not ADDR:PORT"))?;
        } else if let Some(v) = args::value(&argv, &mut i, "--config")? {
            config = v.to_string();
        } else if argv[i] == "-h" || argv[i] == "--help" {
            println!("{USAGE}");
            return Ok(());
        } else {
            return Err(format!("unknown argument `{}`\n{USAGE}", argv[i]));
        }
        i += 1;
    }

    let shutdown =
        ShutdownSignal::install().map_err(|e| format!("installing signal handlers: {e}"))?;
    let stack = Stack::init(StackOptions::new(&config)).map_err(|e| e.to_string())?;
    let server = HttpServer::bind(listen).map_err(|e| format!("listening on {listen}: {e}"))?;
    let bound = server.local_addr().map_err(|e| e.to_string())?;
    eprintln!(
        "http_server: backend {}, listening on http://{bound}/ (Ctrl-C stops)",
        fstack::backend()
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
    eprintln!(
        "http_server: stopped; {} connections, {} requests, {closed} closed at shutdown",
        stats.accepted, stats.requests
    );
    result.unwrap_or(Ok(()))
}
