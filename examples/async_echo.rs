//! The README's async example: a TCP echo server on `fstack::rt`, one task per connection,
//! connections idle for 30 s closed, Ctrl-C closes everything inside the loop.
//!
//! ```text
//! cargo run --example async_echo -- [--listen ADDR:PORT] [--config FILE]
//! ```
//! Defaults: `--listen 0.0.0.0:7`, `--config f-stack.conf`. Bad arguments: one line on stderr,
//! exit status 2; a failure to start: one line `async_echo: ...`, exit status 1.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use fstack::rt::{self, RunError, TcpListener, TcpStream};
use fstack::{ShutdownSignal, Stack, StackOptions};
use fstack_examples::args;
use futures_util::{AsyncReadExt, AsyncWriteExt};

/// A TCP echo server on fstack::rt, until Ctrl-C or SIGTERM.
#[derive(Parser, Debug)]
#[command(name = "async_echo", version, args_override_self = true)]
struct Cli {
    /// Address and port to listen on.
    #[arg(long, value_name = "ADDR:PORT", default_value = "0.0.0.0:7", value_parser = args::socket_addr)]
    listen: SocketAddr,

    /// F-Stack config file.
    #[arg(long, value_name = "FILE", default_value = "f-stack.conf", value_parser = args::existing_file)]
    config: PathBuf,
}

async fn echo(mut conn: TcpStream) -> std::io::Result<()> {
    let mut buf = [0u8; 4096];
    loop {
        // Reads go straight from the socket into `buf`.
        let n = match rt::timeout(Duration::from_secs(30), conn.read(&mut buf)).await {
            Ok(read) => read?,
            Err(_idle) => return Ok(()),
        };
        if n == 0 {
            return Ok(());
        }
        conn.write_all(&buf[..n]).await?;
    }
}

async fn serve(listen: SocketAddr) -> Result<(), String> {
    let listener = TcpListener::bind(listen).map_err(|e| format!("listening on {listen}: {e}"))?;
    let bound = listener.local_addr().map_err(|e| e.to_string())?;
    eprintln!("async_echo: listening on {bound}");
    loop {
        let (conn, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of descriptors (EMFILE, ENFILE) or memory: the server goes on, and
                // pauses so that connections can finish instead of spinning on the error.
                eprintln!("async_echo: accept: {e}");
                rt::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        rt::spawn(async move {
            if let Err(e) = echo(conn).await {
                eprintln!("async_echo: {peer}: {e}");
            }
        });
    }
}

fn run(cli: Cli) -> Result<(), String> {
    let shutdown =
        ShutdownSignal::install().map_err(|e| format!("installing signal handlers: {e}"))?;
    let stack = Stack::init(StackOptions::new(&cli.config)).map_err(|e| e.to_string())?;
    let runtime = rt::Runtime::builder()
        .shutdown(shutdown)
        .build()
        .map_err(|e| format!("async runtime: {e}"))?;
    match runtime.block_on(stack, serve(cli.listen)) {
        // Ctrl-C: every task was dropped inside the loop, so every socket was closed.
        Err(RunError::Shutdown) => Ok(()),
        Err(e) => Err(e.to_string()),
        Ok(result) => result,
    }
}

fn main() -> ExitCode {
    let cli = match args::parse::<Cli>() {
        Ok(cli) => cli,
        Err(code) => return code, // help printed (0) or a bad command line (2)
    };
    args::exit("async_echo", run(cli))
}
