//! Multi-process F-Stack with a packet dispatcher: one TCP echo server per process.
//!
//! ```text
//! dispatch_echo --config FILE --proc-type primary|secondary --proc-id N [--port-base P]
//! ```
//! Process N listens on port P+N (default P = 9000) and answers each connection with the
//! line `proc=N` before echoing what it receives. Every process registers the same dispatcher
//! (`fstack::set_packet_dispatcher`): a TCP or UDP packet whose destination port is P+Q goes to
//! queue Q (process Q), whatever queue the NIC put it on; anything else (ARP, NDP, other ports)
//! stays on the queue it arrived on. Start the primary first, with `[dpdk] lcore_mask` naming
//! one lcore per process. At SIGTERM each process prints what it served and what its
//! dispatcher did, and exits 0. Needs real F-Stack (the kernel backend has no queues).

use std::cell::Cell;
use std::io::{ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::process::ExitCode;
use std::rc::Rc;

use clap::{Parser, ValueEnum};
use fstack::{
    Dispatch, Events, FStackListener, FStackSocket, Interest, Poll, ProcType, ShutdownSignal,
    Stack, StackOptions, Token,
};
use fstack_examples::args;

/// This process's role.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum Role {
    Primary,
    Secondary,
}

/// The command line (`--help` prints it).
#[derive(Parser, Debug)]
#[command(
    name = "dispatch_echo",
    about = "One TCP echo server per F-Stack process (port P+N for process N), with a packet \
             dispatcher steering each server port to its process's queue.",
    args_override_self = true
)]
struct Args {
    /// F-Stack configuration file
    #[arg(long, value_name = "FILE", default_value = "f-stack.conf", value_parser = args::existing_file)]
    config: PathBuf,
    /// F-Stack process type (start the primary first)
    #[arg(long, value_name = "TYPE")]
    proc_type: Role,
    /// F-Stack process id: this process's lcore index and queue
    #[arg(long, value_name = "N", value_parser = args::whole_in(0, 127))]
    proc_id: usize,
    /// Process N serves port P+N
    #[arg(long, value_name = "P", default_value = "9000", value_parser = args::whole_in(1, 65000))]
    port_base: usize,
}

fn main() -> ExitCode {
    match args::parse::<Args>() {
        Ok(args) => args::exit("dispatch_echo", run(args)),
        Err(code) => code,
    }
}

/// What the dispatcher did in this process.
#[derive(Default)]
struct Counts {
    kept: Cell<u64>,
    moved: Cell<u64>,
    other: Cell<u64>,
}

fn run(args: Args) -> Result<(), String> {
    let id = args.proc_id as u16;
    let base = args.port_base as u16;
    let (proc_type, role) = match args.proc_type {
        Role::Primary => (ProcType::Primary, "primary"),
        Role::Secondary => (ProcType::Secondary, "secondary"),
    };
    let shutdown =
        ShutdownSignal::install().map_err(|e| format!("installing signal handlers: {e}"))?;
    let stack = Stack::init(
        StackOptions::new(&args.config)
            .proc_type(proc_type)
            .proc_id(u32::from(id)),
    )
    .map_err(|e| e.to_string())?;

    let counts = Rc::new(Counts::default());
    let seen = counts.clone();
    fstack::set_packet_dispatcher(move |packet| match packet.ports() {
        Some((_, dst)) if dst >= base && dst - base < packet.nb_queues() => {
            let queue = dst - base;
            let c = if queue == packet.queue_id() {
                &seen.kept
            } else {
                &seen.moved
            };
            c.set(c.get() + 1);
            Dispatch::Queue(queue)
        }
        _ => {
            seen.other.set(seen.other.get() + 1);
            Dispatch::Queue(packet.queue_id())
        }
    })
    .map_err(|e| e.to_string())?;

    let addr = SocketAddr::from(([0, 0, 0, 0], base + id));
    let listener = FStackListener::bind(addr).map_err(|e| e.to_string())?;
    let mut poll = Poll::new().map_err(|e| e.to_string())?;
    poll.register(&listener, Token(0), Interest::READABLE)
        .map_err(|e| e.to_string())?;
    eprintln!(
        "dispatch_echo: backend {}, proc {id} ({role}), echoing TCP on {addr}",
        fstack::backend()
    );

    let mut events = Events::with_capacity(64);
    let mut conns: Vec<Option<FStackSocket>> = Vec::new();
    let mut served = 0u64;
    let mut echoed = 0u64;
    let mut buf = vec![0u8; 16384];
    let result = stack.run(|| -> ControlFlow<Result<(), String>> {
        if shutdown.requested() {
            return ControlFlow::Break(Ok(()));
        }
        if let Err(e) = poll.poll(&mut events) {
            return ControlFlow::Break(Err(e.to_string()));
        }
        for ev in &events {
            if ev.token() == Token(0) {
                loop {
                    match listener.accept() {
                        Ok((mut s, _)) => {
                            // The greeting fits any fresh socket's send buffer.
                            if let Err(e) = s.write_all(format!("proc={id}\n").as_bytes()) {
                                return ControlFlow::Break(Err(format!("greeting: {e}")));
                            }
                            let slot =
                                conns.iter().position(Option::is_none).unwrap_or_else(|| {
                                    conns.push(None);
                                    conns.len() - 1
                                });
                            if let Err(e) = poll.register(&s, Token(slot + 1), Interest::READABLE) {
                                return ControlFlow::Break(Err(e.to_string()));
                            }
                            conns[slot] = Some(s);
                            served += 1;
                        }
                        Err(e) if e.is_would_block() => break,
                        Err(e) => return ControlFlow::Break(Err(e.to_string())),
                    }
                }
                continue;
            }
            let slot = ev.token().0 - 1;
            let Some(Some(conn)) = conns.get_mut(slot) else {
                continue;
            };
            let mut close = false;
            loop {
                match conn.read(&mut buf) {
                    Ok(0) => {
                        close = true;
                        break;
                    }
                    Ok(n) => {
                        // Small echoes: the send buffer takes them whole.
                        if conn.write_all(&buf[..n]).is_err() {
                            close = true;
                            break;
                        }
                        echoed += n as u64;
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(_) => {
                        close = true;
                        break;
                    }
                }
            }
            if close {
                conns[slot] = None;
            }
        }
        ControlFlow::Continue(())
    });
    if let Some(Err(e)) = result {
        return Err(e);
    }
    eprintln!(
        "dispatch_echo: proc {id} stopped; {served} connections, {echoed} bytes echoed; \
         dispatcher: {} packets for port {} kept on queue {id}, {} moved to other queues, {} \
         other packets left on their queue",
        counts.kept.get(),
        base + id,
        counts.moved.get(),
        counts.other.get()
    );
    Ok(())
}
