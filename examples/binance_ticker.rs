//! Binance spot market data over F-Stack: TLS (mbedTLS) + WebSocket (tungstenite) on an
//! `FStackSocket`, decoded zero-copy with exact decimals. A thin CLI over
//! `fstack_binance::feed::Feed`; run with `--help` for the options. `--format none` prints
//! nothing per event (the summary still counts and times them): the client's own work.
//!
//! ```text
//! cargo run --release --example binance_ticker -- --symbol btcusdt --stream ticker
//! cargo run --release --example binance_ticker -- --book --symbol btcusdt --format json
//! ```
//! With `--book` it keeps a local order book per symbol (`fstack_binance::book::BookFeed`:
//! REST snapshot + diff depth stream, gaps detected and resynced) and prints it after every
//! update; a discarded book prints a `book_resync` line.
//! On exit (`--count`, `--duration`, Ctrl-C or SIGTERM) it closes the WebSocket and TLS
//! cleanly, stops the F-Stack loop and prints a summary (events, bytes, reconnects, malformed
//! messages, receive latency percentiles) on stderr; with `--latency-histogram FILE` it also
//! writes the latency histogram there (HdrHistogram V2 + DEFLATE, for comparing runs). Errors
//! are one line on stderr and a non-zero exit.
//!
//! With `--publish NAME` every event also goes out on the market-data bus (iceoryx2 shared
//! memory; `fstack_bus`), and strategies' SUBSCRIBE/UNSUBSCRIBE commands on `NAME/cmd` are
//! applied through the feed's rate-limited control path; `--quiet` prints no event lines.

use std::io::Write;
use std::ops::ControlFlow;
use std::process::ExitCode;
use std::time::Instant;

use fstack::{ShutdownSignal, Stack, StackOptions};
use fstack_binance::book::{self, BookFeed, BookFormatter, BookHandler, BookNotice, BookUpdate};
use fstack_binance::cli::{self, Command, Config};
use fstack_binance::events::StreamEvent;
use fstack_binance::feed::{Feed, FeedCounters, FeedHandler, Notice};
use fstack_binance::output::{Format, Formatter};
use fstack_binance::stats::{unix_micros_now, Stats};
use fstack_tls::TlsConnector;

#[path = "support/ticker_bus.rs"]
mod ticker_bus;
use ticker_bus::TickerBus;

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
    // Before F-Stack starts: a bus that cannot be created is a usage error, reported at once.
    let bus = match &config.publish {
        Some(name) => Some(TickerBus::new(name, &config.streams(), config.time_unit())?),
        None => None,
    };
    let shutdown = ShutdownSignal::install().map_err(|e| format!("signal handlers: {e}"))?;
    let stack = Stack::init(StackOptions::new(&config.fstack_config)).map_err(|e| e.to_string())?;
    let mut printer = Printer {
        count: config.count,
        formatter: Formatter::new(config.format, config.time_unit()),
        book_formatter: BookFormatter::new(
            config.format,
            config.book.as_ref().map_or(0, |b| b.levels),
            config.time_unit(),
        ),
        stats: Stats::new(config.time_unit()),
        line: String::with_capacity(512),
        out: std::io::BufWriter::with_capacity(64 << 10, std::io::stdout().lock()),
        write_error: None,
        bus,
    };
    let run = Run {
        config,
        connector,
        stack,
        shutdown: &shutdown,
    };
    let (mut outcome, counters) = if config.book.is_some() {
        run.books(&mut printer)
    } else {
        run.feed(&mut printer)
    };
    printer.flush();
    let Printer {
        stats,
        write_error,
        bus,
        ..
    } = printer;
    if let Some(bus) = &bus {
        eprintln!("{}", bus.summary());
    }
    if let (Some(e), Ok(())) = (&write_error, &outcome) {
        outcome = Err(format!("writing to stdout: {e}"));
    }
    if let (Some(c), true) = (counters, outcome.is_ok()) {
        eprintln!(
            "binance_ticker: oversize messages {}, pings answered {}, rotations {}",
            c.oversize, c.pings, c.rotations
        );
    }
    if outcome.is_ok() {
        eprintln!("{}", stats.summary(&counters.unwrap_or_default()));
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

/// What the run loop drives: the market-event feed or the book feed.
trait Driver<W: Write> {
    fn close(&mut self, now: Instant);
    fn is_closed(&self) -> bool;
    fn poll_into(&mut self, now: Instant, printer: &mut Printer<W>) -> Result<(), String>;
}

impl<W: Write> Driver<W> for Feed {
    fn close(&mut self, now: Instant) {
        Feed::close(self, now)
    }
    fn is_closed(&self) -> bool {
        Feed::is_closed(self)
    }
    fn poll_into(&mut self, now: Instant, printer: &mut Printer<W>) -> Result<(), String> {
        // Commands first: a SUBSCRIBE queued now goes out in this poll, within the limiter.
        if let Some(bus) = printer.bus.as_mut() {
            bus.poll(self, now);
        }
        self.poll(now, printer).map_err(|e| e.to_string())
    }
}

impl<W: Write> Driver<W> for BookFeed {
    fn close(&mut self, now: Instant) {
        BookFeed::close(self, now)
    }
    fn is_closed(&self) -> bool {
        BookFeed::is_closed(self)
    }
    fn poll_into(&mut self, now: Instant, printer: &mut Printer<W>) -> Result<(), String> {
        self.poll(now, printer).map_err(|e| e.to_string())
    }
}

/// Runs the driver `open` makes (inside the loop: F-Stack sockets need it) until the printer
/// has enough, `--duration` passes or Ctrl-C, then closes it cleanly; how the loop ended, and
/// the driver for its counters.
fn drive<W: Write, D: Driver<W>, E: std::fmt::Display>(
    stack: Stack,
    config: &Config,
    shutdown: &ShutdownSignal,
    printer: &mut Printer<W>,
    open: impl Fn() -> Result<D, E>,
) -> (Result<(), String>, Option<D>) {
    // The loop reads the clock once per iteration (`now`); --duration compares it with this.
    let deadline = config.duration.map(|d| Instant::now() + d);
    let mut driver: Option<D> = None;
    let mut closing = false;
    let result = stack.run(|| {
        let now = Instant::now();
        let driver = match driver.as_mut() {
            Some(d) => d,
            None => match open() {
                Ok(d) => driver.insert(d),
                Err(e) => return ControlFlow::Break(Err(e.to_string())),
            },
        };
        let done =
            printer.has_enough() || deadline.is_some_and(|t| now >= t) || shutdown.requested();
        if done && !closing {
            closing = true;
            driver.close(now);
        }
        let polled = driver.poll_into(now, printer);
        printer.flush();
        if let Err(e) = polled {
            return ControlFlow::Break(Err(e));
        }
        if closing && driver.is_closed() {
            return ControlFlow::Break(Ok(()));
        }
        ControlFlow::Continue(())
    });
    let outcome = match result {
        Some(Err(e)) => Err(e),
        _ => Ok(()),
    };
    (outcome, driver)
}

/// One run's settings and the F-Stack it runs on.
struct Run<'a> {
    config: &'a Config,
    connector: TlsConnector,
    stack: Stack,
    shutdown: &'a ShutdownSignal,
}

/// How a run ended, and the feed's counters if it got that far.
type Ended = (Result<(), String>, Option<FeedCounters>);

impl Run<'_> {
    /// One line per market event.
    fn feed<W: Write>(self, printer: &mut Printer<W>) -> Ended {
        let Run {
            config,
            connector,
            stack,
            shutdown,
        } = self;
        let feed_config = config.feed_config();
        eprintln!(
            "binance_ticker: backend {}, {} stream(s) from {}",
            fstack::backend(),
            feed_config.streams.len(),
            config.endpoint.url("")
        );
        let (outcome, feed) = drive(stack, config, shutdown, printer, || {
            Feed::new(feed_config.clone(), connector.clone())
        });
        (outcome, feed.as_ref().map(Feed::counters))
    }

    /// `--book`: one line per book update, per discarded book; a summary per symbol.
    fn books<W: Write>(self, printer: &mut Printer<W>) -> Ended {
        let Run {
            config,
            connector,
            stack,
            shutdown,
        } = self;
        let (Some(book_config), Some(options)) = (config.book_config(), config.book.as_ref())
        else {
            return (Err("no --book".into()), None);
        };
        eprintln!(
            "binance_ticker: backend {}, books of {} symbol(s) from {} and {} (snapshots of {} \
             levels, request weight {})",
            fstack::backend(),
            book_config.feed.streams.len(),
            config.endpoint.url(""),
            options.rest_endpoint.url(),
            options.snapshot_limit,
            cli::snapshot_weight(options)
        );
        let (outcome, books) = drive(stack, config, shutdown, printer, || {
            BookFeed::new(book_config.clone(), connector.clone())
        });
        if let Some(b) = &books {
            for (sync, failure) in b.books() {
                eprintln!(
                    "binance_ticker: {}",
                    book::output::summary_line(sync, failure)
                );
            }
            let r = b.rest_counters();
            eprintln!(
                "binance_ticker: rest {}: requests {}, answers {}, retries {} (rate limited {}, \
                 server errors {}), failed {}, connections {}, weight {}{}",
                b.rest_url(),
                r.requests,
                r.responses,
                r.retries,
                r.rate_limited,
                r.server_errors,
                r.failed,
                r.connections,
                r.weight,
                r.server_weight
                    .map(|w| format!(" (the server counts {w} this minute)"))
                    .unwrap_or_default()
            );
        }
        (outcome, books.as_ref().map(BookFeed::feed_counters))
    }
}

/// Prints each event or book as one line (none with `--format none`) and reports notices on
/// stderr.
struct Printer<W: Write> {
    /// `--count`: events (or book updates) beyond it are neither printed nor counted.
    count: Option<u64>,
    formatter: Formatter,
    book_formatter: BookFormatter,
    stats: Stats,
    /// Reused for every line.
    line: String,
    out: W,
    /// A failed write to stdout (a closed pipe, a full disk) ends the run: nothing printed
    /// after it would reach the reader.
    write_error: Option<std::io::Error>,
    /// `--publish`: the market-data bus.
    bus: Option<TickerBus>,
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
        let now_us = unix_micros_now();
        self.stats.record_event(ev.event_time(), now_us);
        if let Some(bus) = self.bus.as_mut() {
            bus.publish(ev, now_us);
        }
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
        if let Some(bus) = self.bus.as_mut() {
            match &notice {
                Notice::Ack { id } => bus.on_ack(*id),
                Notice::ControlError { id, code, msg } => bus.on_rejected(*id, *code, msg),
                _ => {}
            }
        }
        print_notice(notice);
    }
}

/// The stream side's notices, one line each on stderr.
fn print_notice(notice: Notice<'_>) {
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
        Notice::ControlError { code, msg, .. } => {
            eprintln!("binance_ticker: server error {code}: {msg}")
        }
    }
}

impl<W: Write> Printer<W> {
    fn write_line(&mut self) {
        if let Err(e) = self.out.write_all(self.line.as_bytes()) {
            self.write_error = Some(e);
        }
    }
}

impl<W: Write> BookHandler for Printer<W> {
    fn on_book(&mut self, update: &BookUpdate<'_>) {
        if self.has_enough() {
            return;
        }
        self.stats
            .record_event(Some(update.event_time), unix_micros_now());
        self.line.clear();
        self.book_formatter.write_book(&mut self.line, update);
        self.write_line();
    }

    fn on_notice(&mut self, notice: BookNotice<'_>) {
        match notice {
            BookNotice::Feed(n) => print_notice(n),
            BookNotice::Resync {
                symbol,
                book_id,
                reason,
            } => {
                // Part of the output: a consumer must know the books it had are void.
                self.line.clear();
                self.book_formatter
                    .write_resync(&mut self.line, symbol, book_id, reason);
                self.write_line();
                eprintln!("binance_ticker: {symbol} book discarded at update {book_id}: {reason}");
            }
            BookNotice::Synced { symbol, update_id } => {
                eprintln!("binance_ticker: {symbol} book in sync at update {update_id}")
            }
            BookNotice::StaleSnapshot {
                symbol,
                unmatched: u,
                retry_in,
            } => {
                let how = if u.ahead {
                    "is ahead of every event the stream sends"
                } else {
                    "is older than the stream's events"
                };
                eprintln!(
                    "binance_ticker: {symbol} snapshot at update {} {how} (from {}): \
                     fetching another in {retry_in:.2?}",
                    u.last_update_id, u.first_event
                );
                if u.persistent {
                    eprintln!(
                        "binance_ticker: {symbol}: error: snapshot and stream do not match \
                         ({} snapshots in a row): is --rest-endpoint the same exchange as \
                         --endpoint? Still trying.",
                        u.in_a_row
                    );
                }
            }
            BookNotice::SnapshotRetry {
                symbol,
                error,
                retry_in,
            } => {
                eprintln!("binance_ticker: {symbol} snapshot: retrying in {retry_in:.2?}: {error}")
            }
            BookNotice::SnapshotFailed {
                symbol,
                error,
                retry_in,
            } => eprintln!(
                "binance_ticker: {symbol} snapshot failed, next request in {retry_in:.2?}: {error}"
            ),
            BookNotice::WaitingForBudget {
                symbol,
                wait,
                used,
                weight,
            } => eprintln!(
                "binance_ticker: {symbol} snapshot waits up to {wait:.2?} for the request weight \
                 budget ({used} spent in the last minute, this request weighs {weight})"
            ),
            BookNotice::SymbolFailed { symbol, error } => {
                eprintln!("binance_ticker: {symbol}: no book: {error}")
            }
        }
    }
}
