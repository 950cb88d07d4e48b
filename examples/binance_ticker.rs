//! Binance spot market data over F-Stack: TLS (mbedTLS) + WebSocket (tungstenite) on an
//! `FStackSocket`, decoded zero-copy with exact decimals. A thin CLI over
//! `fstack_binance::feed::Feed`; run with `--help` for the options. `--format none` prints
//! nothing per event (the summary still counts and times them): the client's own work.
//!
//! ```text
//! cargo run --release --example binance_ticker -- --symbol btcusdt --stream ticker
//! ```
//! On exit (`--count`, `--duration`, Ctrl-C or SIGTERM) it closes the WebSocket and TLS
//! cleanly, stops the F-Stack loop and prints a summary (events, bytes, reconnects, malformed
//! messages, receive latency percentiles) on stderr; with `--latency-histogram FILE` it also
//! writes the latency histogram there (HdrHistogram V2 + DEFLATE, for comparing runs). Errors
//! are one line on stderr and a non-zero exit.

use std::io::Write;
use std::ops::ControlFlow;
use std::process::ExitCode;
use std::time::Instant;

use fstack::{ShutdownSignal, Stack, StackOptions};
use fstack_binance::cli::{self, Command, Config};
use fstack_binance::events::StreamEvent;
use fstack_binance::feed::{Feed, FeedHandler, Notice};
use fstack_binance::output::{Format, Formatter};
use fstack_binance::stats::{unix_micros_now, Stats};
use fstack_tls::TlsConnector;

fn main() -> ExitCode {
    let config = match cli::parse_args(std::env::args_os().skip(1)) {
        Ok(Command::Run(c)) => c,
        Ok(Command::Help(text)) => {
            print!("{text}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("binance_ticker: {e}");
            return ExitCode::from(2);
        }
    };
    match run(&config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("binance_ticker: {}", e.replace('\n', " "));
            ExitCode::FAILURE
        }
    }
}

fn run(config: &Config) -> Result<(), String> {
    let endpoint = &config.endpoint;
    let mut builder = TlsConnector::builder().engine(config.tls);
    if let Some(ca) = &config.ca_file {
        builder = builder.ca_file(ca);
    }
    let connector = builder.build().map_err(|e| format!("TLS setup: {e}"))?;
    // A temporary file beside the target, created now so that a directory that cannot be
    // written fails before connecting; it replaces FILE only after a clean run (an existing
    // FILE survives a failed one) and disappears otherwise.
    let mut histogram_file = match &config.latency_histogram {
        Some(path) => {
            let dir = match path.parent() {
                Some(d) if !d.as_os_str().is_empty() => d,
                _ => std::path::Path::new("."),
            };
            let fail =
                |e: &dyn std::fmt::Display| format!("--latency-histogram {}: {e}", path.display());
            // The directory's own error first: tempfile's would name the temporary file.
            std::fs::metadata(dir).map_err(|e| fail(&e))?;
            Some(tempfile::NamedTempFile::new_in(dir).map_err(|e| fail(&e))?)
        }
        None => None,
    };
    let feed_config = config.feed_config();

    let shutdown = ShutdownSignal::install().map_err(|e| format!("signal handlers: {e}"))?;
    let stack = Stack::init(StackOptions::new(&config.fstack_config)).map_err(|e| e.to_string())?;
    eprintln!(
        "binance_ticker: backend {}, {} stream(s) from {}",
        fstack::backend(),
        feed_config.streams.len(),
        endpoint.url("")
    );

    let mut printer = Printer {
        count: config.count,
        formatter: Formatter::new(config.format, config.time_unit()),
        stats: Stats::new(config.time_unit()),
        line: String::with_capacity(512),
        out: std::io::BufWriter::with_capacity(64 << 10, std::io::stdout().lock()),
        write_error: None,
    };
    // The loop reads the clock once per iteration (`now`); --duration compares it with this.
    let deadline = config.duration.map(|d| Instant::now() + d);
    let mut feed: Option<Feed> = None;
    let mut closing = false;
    let mut outcome: Result<(), String> = Ok(());

    let result = stack.run(|| {
        let now = Instant::now();
        let feed = match feed.as_mut() {
            Some(f) => f,
            None => match Feed::new(feed_config.clone(), connector.clone()) {
                Ok(f) => feed.insert(f),
                Err(e) => return ControlFlow::Break(Err(e.to_string())),
            },
        };
        let done =
            printer.has_enough() || deadline.is_some_and(|t| now >= t) || shutdown.requested();
        if done && !closing {
            closing = true;
            feed.close(now);
        }
        let polled = feed.poll(now, &mut printer);
        printer.flush();
        if let Err(e) = polled {
            return ControlFlow::Break(Err(e.to_string()));
        }
        if closing && feed.is_closed() {
            return ControlFlow::Break(Ok(()));
        }
        ControlFlow::Continue(())
    });
    if let Some(Err(e)) = result {
        outcome = Err(e);
    }
    printer.flush();
    let Printer {
        stats, write_error, ..
    } = printer;
    if let (Some(e), Ok(())) = (&write_error, &outcome) {
        outcome = Err(format!("writing to stdout: {e}"));
    }
    let counters = feed.as_ref().map(Feed::counters).unwrap_or_default();
    if let (Some(c), true) = (feed.as_ref().map(Feed::counters), outcome.is_ok()) {
        eprintln!(
            "binance_ticker: oversize messages {}, pings answered {}, rotations {}",
            c.oversize, c.pings, c.rotations
        );
    }
    if outcome.is_ok() {
        eprintln!("{}", stats.summary(&counters));
        if let (Some(mut file), Some(path)) = (histogram_file.take(), &config.latency_histogram) {
            let fail =
                |e: &dyn std::fmt::Display| format!("--latency-histogram {}: {e}", path.display());
            let written = stats
                .latency_us
                .write_v2_deflate(file.as_file_mut())
                .map_err(|e| fail(&e))?;
            file.persist(path).map_err(|e| fail(&e.error))?;
            eprintln!(
                "binance_ticker: latency histogram (n={}, HdrHistogram V2 + DEFLATE, {written} bytes) written to {}",
                stats.latency_us.count(),
                path.display()
            );
        }
    }
    outcome
}

/// Prints each event as one line (none with `--format none`) and reports notices on stderr.
struct Printer<W: Write> {
    /// `--count`: events beyond it are neither printed nor counted.
    count: Option<u64>,
    formatter: Formatter,
    stats: Stats,
    /// Reused for every line.
    line: String,
    out: W,
    /// A failed write to stdout (a closed pipe, a full disk) ends the run: nothing printed
    /// after it would reach the reader.
    write_error: Option<std::io::Error>,
}

impl<W: Write> Printer<W> {
    /// True once `--count` events were printed, or output failed.
    fn has_enough(&self) -> bool {
        self.count.is_some_and(|n| self.stats.events >= n) || self.write_error.is_some()
    }

    fn flush(&mut self) {
        if let Err(e) = self.out.flush() {
            self.write_error.get_or_insert(e);
        }
    }
}

impl<W: Write> FeedHandler for Printer<W> {
    fn on_event(&mut self, ev: &StreamEvent<'_>, _frame_len: usize) {
        if self.has_enough() {
            return; // already have what was asked for, or nowhere to put it
        }
        self.stats.record_event(ev.event_time(), unix_micros_now());
        if self.formatter.format == Format::None {
            return; // counted and timed; no line
        }
        self.line.clear();
        self.formatter.write_line(&mut self.line, ev);
        if let Err(e) = self.out.write_all(self.line.as_bytes()) {
            self.write_error = Some(e);
        }
    }

    fn on_notice(&mut self, notice: Notice<'_>) {
        match notice {
            Notice::Connected { addr, standby, tls } => eprintln!(
                "binance_ticker: connected to {addr} over {tls}{}",
                if standby { " (standby)" } else { "" }
            ),
            Notice::Disconnected { cause, retry_in } if retry_in.is_zero() => {
                eprintln!("binance_ticker: connection lost, the standby takes over: {cause}")
            }
            Notice::Disconnected { cause, retry_in } => {
                eprintln!("binance_ticker: reconnecting in {retry_in:.2?}: {cause}")
            }
            Notice::ReplacementFailed { cause, retry_in } => eprintln!(
                "binance_ticker: replacement connection failed, current one kept, next try in \
                 {retry_in:.2?}: {cause}"
            ),
            Notice::Rotating { reason } => {
                eprintln!("binance_ticker: replacing connection: {reason}")
            }
            Notice::Malformed { error } => {
                eprintln!("binance_ticker: skipped malformed message: {error}")
            }
            Notice::Ack { .. } => {}
            Notice::ControlError { code, msg } => {
                eprintln!("binance_ticker: server error {code}: {msg}")
            }
        }
    }
}
