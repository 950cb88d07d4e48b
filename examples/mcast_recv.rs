//! Multicast receiver over F-Stack: joins an IPv4 group and follows the sequence numbers of
//! its datagrams.
//!
//! ```text
//! cargo run --release --example mcast_recv -- --group ADDR:PORT --interface ADDR
//!     [--count N] [--buffer BYTES] [--config FILE]
//! ```
//! Joins the group on the stack's interface with address ADDR and expects each datagram to
//! start with an 8-byte big-endian sequence number. Prints one line per datagram on stdout,
//! `seq=S len=L` (`seq=S len=L truncated` when it was longer than `--buffer`, default 65507,
//! which no IPv4 datagram exceeds), and when it stops, after N datagrams or at Ctrl-C/SIGTERM,
//! leaves the group and prints `received=R gaps=G`: R counts every datagram with a sequence
//! number (duplicates and late ones included), G the numbers between the first and the
//! highest received that never arrived (a late datagram fills its gap; duplicates change
//! nothing; see `fstack_examples::mcast` for the exact rules). Datagrams shorter than 8 bytes
//! are reported on stderr and not counted. `--help` lists the options; a bad command line exits
//! 2 with one line, a failed run exits 1 with one line.

use std::io::Write as _;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use fstack::{ShutdownSignal, Stack, StackOptions};
use fstack_examples::args;
use fstack_examples::mcast::{Datagram, McastConfig, McastReceiver};

/// Short datagrams reported one by one on stderr; later ones are only counted.
const SHORT_REPORTED: u64 = 10;

/// The command line (`--help` prints it).
#[derive(Parser, Debug)]
#[command(
    name = "mcast_recv",
    about = "Joins an IPv4 multicast group over F-Stack, prints `seq=S len=L` for each \
             datagram (each starts with an 8-byte big-endian sequence number) and, after N \
             datagrams or at Ctrl-C, `received=R gaps=G`.",
    args_override_self = true
)]
struct Args {
    /// The IPv4 multicast group (224.0.0.0/4) and port to receive, e.g. 239.1.2.3:5000
    #[arg(long, value_name = "ADDR:PORT", value_parser = group)]
    group: SocketAddrV4,
    /// The stack's own IPv4 address on the interface to join on (0.0.0.0: the stack picks
    /// the interface by its route to the group)
    #[arg(long, value_name = "ADDR", value_parser = interface)]
    interface: Ipv4Addr,
    /// Stop after N datagrams with a sequence number (default: until Ctrl-C)
    #[arg(long, value_name = "N", allow_negative_numbers = true, value_parser = args::whole_in(1, 1 << 62))]
    count: Option<usize>,
    /// Bytes per receive, 8 to 65507; a longer datagram's line ends in `truncated`
    #[arg(long, value_name = "BYTES", default_value = "65507", allow_negative_numbers = true, value_parser = args::whole_in(8, fstack::MAX_DATAGRAM_V4))]
    buffer: usize,
    /// F-Stack configuration file
    #[arg(long, value_name = "FILE", default_value = "f-stack.conf", value_parser = args::existing_file)]
    config: PathBuf,
}

/// Value parser: an IPv4 multicast group and a port other than 0.
fn group(v: &str) -> Result<SocketAddrV4, String> {
    match v.parse::<SocketAddr>() {
        Ok(SocketAddr::V4(a)) if !a.ip().is_multicast() => Err(format!(
            "{} is not an IPv4 multicast group address (224.0.0.0/4)",
            a.ip()
        )),
        Ok(SocketAddr::V4(a)) if a.port() == 0 => Err("port 0 cannot be received on".into()),
        Ok(SocketAddr::V4(a)) => Ok(a),
        Ok(SocketAddr::V6(_)) => {
            Err("expected an IPv4 group (IPv6 groups are not supported)".into())
        }
        Err(_) => Err("expected ADDR:PORT, e.g. 239.1.2.3:5000".into()),
    }
}

/// Value parser: an IPv4 unicast address, or 0.0.0.0.
fn interface(v: &str) -> Result<Ipv4Addr, String> {
    let a: Ipv4Addr = v
        .parse()
        .map_err(|_| "expected an IPv4 address of the stack's interface".to_string())?;
    if a.is_multicast() || a.is_broadcast() {
        return Err(format!(
            "{a} is not a unicast address (give the stack's own address on the interface)"
        ));
    }
    Ok(a)
}

fn main() -> ExitCode {
    match args::parse::<Args>() {
        Ok(args) => args::exit("mcast_recv", run(args)),
        Err(code) => code,
    }
}

fn run(args: Args) -> Result<(), String> {
    let count = args.count.map(|n| n as u64);
    let shutdown =
        ShutdownSignal::install().map_err(|e| format!("installing signal handlers: {e}"))?;
    let stack = Stack::init(StackOptions::new(&args.config)).map_err(|e| e.to_string())?;
    let receiver = McastReceiver::join(McastConfig {
        group: args.group,
        interface: args.interface,
        buffer: args.buffer,
    })
    .map_err(|e| match e {
        fstack::Error::Io { op: "ff_bind", .. } => format!("binding {}: {e}", args.group),
        e => format!("joining {}: {e}", args.group),
    })?;
    eprintln!(
        "mcast_recv: backend {}, joined {} on {}, receiving on port {} (Ctrl-C stops)",
        fstack::backend(),
        args.group.ip(),
        args.interface,
        args.group.port()
    );

    let mut receiver = Some(receiver);
    let mut counts = None;
    let result = stack.run(|| {
        let Some(rx) = receiver.as_mut() else {
            return ControlFlow::Break(Ok(()));
        };
        let mut done = shutdown.requested();
        let mut shorts = rx.short();
        let mut received = rx.tracker().received();
        let mut write_error = None;
        let polled = rx.poll_once(|d| {
            match d {
                Datagram::Numbered { .. } => {
                    // A closed stdout (`| head -1`) ends the run cleanly, leaving the group.
                    if let Err(e) = writeln!(std::io::stdout(), "{d}") {
                        write_error = Some(e);
                        return false;
                    }
                    received += 1;
                }
                Datagram::Short { len, from } => {
                    shorts += 1;
                    if shorts <= SHORT_REPORTED {
                        let from = from.map(|a| format!(" from {a}")).unwrap_or_default();
                        eprintln!(
                            "mcast_recv: ignored a {len}-byte datagram{from}: shorter than its \
                             8-byte sequence number{}",
                            if shorts == SHORT_REPORTED {
                                " (further ones are only counted)"
                            } else {
                                ""
                            }
                        );
                    }
                }
            }
            // With --count, the rest waits: exactly N lines.
            count.is_none_or(|n| received < n)
        });
        if let Some(n) = count {
            done |= rx.tracker().received() >= n;
        }
        let outcome = match (polled, write_error) {
            (_, Some(e)) => Some(
                rx.leave()
                    .map_err(|e| format!("leaving the group: {e}"))
                    .and(Err(format!("writing to stdout: {e}"))),
            ),
            (Err(e), None) => Some(Err(e.to_string())),
            (Ok(()), None) if done => {
                Some(rx.leave().map_err(|e| format!("leaving the group: {e}")))
            }
            (Ok(()), None) => None,
        };
        match outcome {
            None => ControlFlow::Continue(()),
            Some(result) => {
                counts = Some((rx.tracker().clone(), rx.short(), rx.truncated()));
                receiver = None; // closed inside the loop
                ControlFlow::Break(result)
            }
        }
    });
    if let Some((t, short, truncated)) = counts {
        // The summary is best effort on a closed stdout (the error is reported below).
        let _ = writeln!(
            std::io::stdout(),
            "received={} gaps={}",
            t.received(),
            t.gaps()
        );
        eprintln!(
            "mcast_recv: left {}; {} duplicates, {} late (filled a gap), {} too far behind to \
             place, {} before the first, {truncated} truncated, {short} shorter than a sequence \
             number",
            args.group.ip(),
            t.duplicates(),
            t.late(),
            t.too_old(),
            t.before_first()
        );
    }
    result.unwrap_or_else(|| Err("loop stopped".into()))
}
