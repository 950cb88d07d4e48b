//! What socket, listener and poll calls answer once `Stack::run` has returned.
//!
//! ```text
//! cargo run --example after_run -- --connect ADDR:PORT [--listen ADDR:PORT] [--config FILE]
//! ```
//! Inside the loop it binds a listener (`--listen`, default `0.0.0.0:0`), creates a poll and
//! connects to ADDR:PORT (any TCP listener); once connected it leaves the loop. On real F-Stack
//! `ff_run` has then torn DPDK down, and on both backends every call fails with
//! `Error::NotRunning` naming the refused F-Stack call. The example calls each fallible method
//! of `FStackSocket`, `FStackListener` and `Poll` and prints one line per call on stdout,
//! `TYPE::METHOD: RESULT` (the same lines on both backends), then drops the handles (abandoned
//! on real F-Stack, closed on the kernel backend). Exits 0 when every call was refused that
//! way, 1 otherwise.

use std::fmt::Debug;
use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use std::time::{Duration, Instant};

use fstack::{
    Error, Events, FStackListener, FStackSocket, Interest, Poll, Stack, StackOptions, Token,
};
use fstack_examples::args;

/// The command line (`--help` prints it).
#[derive(Parser, Debug)]
#[command(
    name = "after_run",
    about = "Calls every fallible socket, listener and poll method after Stack::run returned \
             and prints one line per call.",
    args_override_self = true
)]
struct Args {
    /// Any TCP listener to connect to
    #[arg(long, value_name = "ADDR:PORT", value_parser = args::socket_addr)]
    connect: SocketAddr,
    /// Where the listener binds
    #[arg(long, value_name = "ADDR:PORT", default_value = "0.0.0.0:0", value_parser = args::socket_addr)]
    listen: SocketAddr,
    /// F-Stack configuration file
    #[arg(long, value_name = "FILE", default_value = "f-stack.conf", value_parser = args::existing_file)]
    config: PathBuf,
}

fn main() -> ExitCode {
    match args::parse::<Args>() {
        Ok(a) => args::exit("after_run", run(a)),
        Err(code) => code,
    }
}

/// Prints `name: result` and tells whether `result` is `Err(NotRunning)`.
fn show<T: Debug>(out: &mut impl Write, name: &str, result: fstack::Result<T>) -> bool {
    let refused = matches!(result, Err(Error::NotRunning { .. }));
    let shown = match result {
        Ok(v) => format!("Ok({v:?})"),
        Err(e) => format!("Err({e:?})"),
    };
    let _ = writeln!(out, "{name}: {shown}");
    refused
}

/// Like [`show`] for `Read`/`Write`: the io::Error's kind and the `fstack::Error` inside.
fn show_io<T: Debug>(out: &mut impl Write, name: &str, result: io::Result<T>) -> bool {
    let inner = |e: &io::Error| {
        e.get_ref()
            .and_then(|i| i.downcast_ref::<Error>())
            .map(|i| format!("{i:?}"))
    };
    let (refused, shown) = match result {
        Ok(v) => (false, format!("Ok({v:?})")),
        Err(e) => match inner(&e) {
            Some(i) => (
                i.starts_with("NotRunning"),
                format!("Err({:?}: {i})", e.kind()),
            ),
            None => (false, format!("Err({e:?})")),
        },
    };
    let _ = writeln!(out, "{name}: {shown}");
    refused
}

fn run(args: Args) -> Result<(), String> {
    let (peer, listen, config) = (args.connect, args.listen, args.config);

    let stack = Stack::init(StackOptions::new(&config)).map_err(|e| e.to_string())?;
    eprintln!(
        "after_run: backend {}, connecting to {peer}",
        fstack::backend()
    );
    let mut handles: Option<(FStackSocket, FStackListener, Poll)> = None;
    let mut events = Events::with_capacity(4);
    let deadline = Instant::now() + Duration::from_secs(20);
    let outcome = stack.run(|| {
        if Instant::now() > deadline {
            return ControlFlow::Break(Err(format!("not connected to {peer} within 20 s")));
        }
        let (sock, _, poll) = match handles.as_mut() {
            Some(h) => h,
            None => {
                let made = (|| {
                    let listener = FStackListener::bind(listen)?;
                    let mut poll = Poll::new()?;
                    let sock = FStackSocket::connect(peer)?;
                    poll.register(&sock, Token(0), Interest::WRITABLE)?;
                    poll.register(&listener, Token(1), Interest::READABLE)?;
                    Ok::<_, Error>((sock, listener, poll))
                })();
                match made {
                    Ok(h) => handles.insert(h),
                    Err(e) => return ControlFlow::Break(Err(e.to_string())),
                }
            }
        };
        if let Err(e) = poll.poll(&mut events) {
            return ControlFlow::Break(Err(e.to_string()));
        }
        if events.iter().any(|e| e.token() == Token(0)) {
            match sock.finish_connect() {
                Ok(true) => return ControlFlow::Break(Ok(())),
                Ok(false) => {}
                Err(e) => return ControlFlow::Break(Err(e.to_string())),
            }
        }
        ControlFlow::Continue(())
    });
    match outcome {
        Some(Ok(())) => {}
        Some(Err(e)) => return Err(e),
        None => return Err("the loop was stopped from outside".into()),
    }
    let (mut sock, listener, mut poll) = handles.take().expect("connected");
    eprintln!("after_run: connected, loop ended; calling every method");

    let mut out = io::stdout().lock();
    let o = &mut out;
    let mut buf = [0u8; 64];
    let results = [
        show(o, "FStackSocket::connect", FStackSocket::connect(peer)),
        show(o, "FStackSocket::finish_connect", sock.finish_connect()),
        show(o, "FStackSocket::set_nodelay", sock.set_nodelay(true)),
        show(o, "FStackSocket::nodelay", sock.nodelay()),
        show(
            o,
            "FStackSocket::set_send_buffer_size",
            sock.set_send_buffer_size(65536),
        ),
        show(
            o,
            "FStackSocket::set_recv_buffer_size",
            sock.set_recv_buffer_size(65536),
        ),
        show(o, "FStackSocket::local_addr", sock.local_addr()),
        show(o, "FStackSocket::peer_addr", sock.peer_addr()),
        show(o, "FStackSocket::take_error", sock.take_error()),
        show(o, "FStackSocket::shutdown", sock.shutdown(Shutdown::Both)),
        show_io(o, "FStackSocket::read", sock.read(&mut buf)),
        show_io(
            o,
            "FStackSocket::read_vectored",
            sock.read_vectored(&mut [IoSliceMut::new(&mut buf)]),
        ),
        show_io(o, "FStackSocket::write", sock.write(b"late")),
        show_io(
            o,
            "FStackSocket::write_vectored",
            sock.write_vectored(&[IoSlice::new(b"late")]),
        ),
        show_io(o, "FStackSocket::flush", sock.flush()),
        show(o, "FStackListener::bind", FStackListener::bind(listen)),
        show(o, "FStackListener::accept", listener.accept()),
        show(o, "FStackListener::local_addr", listener.local_addr()),
        show(o, "Poll::new", Poll::new()),
        show(
            o,
            "Poll::register",
            poll.register(&listener, Token(2), Interest::READABLE),
        ),
        show(
            o,
            "Poll::reregister",
            poll.reregister(&sock, Token(0), Interest::READABLE),
        ),
        show(o, "Poll::deregister", poll.deregister(&sock)),
        show(o, "Poll::poll", poll.poll(&mut events)),
    ];
    let _ = writeln!(o, "FStackSocket::is_connecting: {}", sock.is_connecting());
    let _ = out.flush();
    drop((sock, listener, poll));
    let refused = results.iter().filter(|r| **r).count();
    eprintln!(
        "after_run: dropped the socket, listener and poll; {refused} of {} calls refused with NotRunning",
        results.len()
    );
    if refused == results.len() {
        Ok(())
    } else {
        Err(format!(
            "{} calls were not refused with NotRunning",
            results.len() - refused
        ))
    }
}
