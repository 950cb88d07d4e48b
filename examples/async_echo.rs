//! The README's async example: a TCP echo server on `fstack::rt`, one task per connection,
//! connections idle for 30 s closed, Ctrl-C closes everything inside the loop.
//!
//! ```text
//! cargo run --example async_echo -- [ADDR:PORT] [CONFIG]
//! ```
//! Defaults: `0.0.0.0:7`, `f-stack.conf`.

use std::time::Duration;

use fstack::rt::{self, RunError, TcpListener, TcpStream};
use fstack::{ShutdownSignal, Stack, StackOptions};
use futures_util::{AsyncReadExt, AsyncWriteExt};

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

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let listen = args.next().unwrap_or_else(|| "0.0.0.0:7".into()).parse()?;
    let config = args.next().unwrap_or_else(|| "f-stack.conf".into());

    let shutdown = ShutdownSignal::install()?;
    let stack = Stack::init(StackOptions::new(config))?;
    let runtime = rt::Runtime::builder().shutdown(shutdown).build()?;
    let served: Result<std::io::Result<()>, RunError> = runtime.block_on(stack, async move {
        let listener = TcpListener::bind(listen)?;
        eprintln!("async_echo: listening on {}", listener.local_addr()?);
        loop {
            let (conn, peer) = listener.accept().await?;
            rt::spawn(async move {
                if let Err(e) = echo(conn).await {
                    eprintln!("async_echo: {peer}: {e}");
                }
            });
        }
    });
    match served {
        // Ctrl-C: every task was dropped inside the loop, so every socket was closed.
        Err(RunError::Shutdown) => Ok(()),
        Err(e) => Err(e.into()),
        Ok(result) => Ok(result?),
    }
}
