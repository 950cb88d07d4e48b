//! The examples' command lines: parsed with clap (derive), with one contract for all of them.
//!
//! - `--help` (or `-h`): the help text on stdout, exit 0.
//! - A bad command line: one line `PROGRAM: MESSAGE (see --help)` on stderr, exit 2. MESSAGE is
//!   clap's error without its `error: ` prefix, its usage and its tips, e.g.
//!   `tcp_latency: invalid value 'x' for '--count <N>': expected a whole number (see --help)`.
//! - A runtime error: [`exit`] prints `PROGRAM: ERROR` on stderr, exit 1.
//!
//! An example declares its options as a `#[derive(clap::Parser)]` struct with
//! `#[command(name = "PROGRAM", args_override_self = true)]` (a single-valued option given
//! twice keeps the last value), gives numeric options `allow_negative_numbers = true` (so
//! `--count -1` is a bad value, not an unknown option) and value parsers with short one-line
//! messages, like the ones here, and starts with
//!
//! ```no_run
//! # use std::process::ExitCode;
//! # #[derive(clap::Parser)]
//! # #[command(name = "example")]
//! # struct Args {}
//! fn main() -> ExitCode {
//!     let args = match fstack_examples::args::parse::<Args>() {
//!         Ok(args) => args,
//!         Err(code) => return code, // help printed (0) or a bad command line (2)
//!     };
//!     // ...
//! #   let _ = args;
//!     ExitCode::SUCCESS
//! }
//! ```

use std::ffi::OsString;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::error::ErrorKind;
use clap::Parser;

/// Why [`try_parse_from`] returned no arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// `--help` or `-h`: this text goes to stdout and the program exits 0.
    Help(String),
    /// A bad command line, as one line ending in ` (see --help)`: it goes to stderr after
    /// `PROGRAM: ` and the program exits 2.
    Usage(String),
}

impl Stop {
    /// Prints the help to stdout or `PROGRAM: LINE` to stderr, and returns the exit code
    /// (0 or 2).
    pub fn report(&self, program: &str) -> ExitCode {
        match self {
            Stop::Help(text) => {
                // A closed stdout (`--help | head -1`) is not an error worth a panic.
                let mut out = std::io::stdout().lock();
                let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
                ExitCode::SUCCESS
            }
            Stop::Usage(line) => {
                eprintln!("{program}: {line}");
                ExitCode::from(2)
            }
        }
    }
}

/// Parses the process's arguments into `T`; on `--help` or a bad command line, prints what
/// [`Stop::report`] prints and returns the exit code to leave with.
pub fn parse<T: Parser>() -> Result<T, ExitCode> {
    try_parse_from::<T, _, _>(std::env::args_os().skip(1))
        .map_err(|stop| stop.report(T::command().get_name()))
}

/// Parses `args` (the arguments after the program name) into `T`. Never prints, never exits.
pub fn try_parse_from<T, I, S>(args: I) -> Result<T, Stop>
where
    T: Parser,
    I: IntoIterator<Item = S>,
    S: Into<OsString>,
{
    let command = T::command();
    // The command's own name, not argv[0]: usage lines read the same however it was started.
    let argv =
        std::iter::once(OsString::from(command.get_name())).chain(args.into_iter().map(Into::into));
    T::try_parse_from(argv).map_err(|e| match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => Stop::Help(e.render().to_string()),
        _ => Stop::Usage(one_line(&e)),
    })
}

/// clap's error as one line (see [`fstack_binance::cli::one_line_message`]).
pub fn one_line(e: &clap::Error) -> String {
    fstack_binance::cli::one_line_message(e)
}

/// The exit of an example: success, or one line `PROGRAM: ERROR` on stderr and exit 1.
pub fn exit(program: &str, result: Result<(), String>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{program}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Value parser: a non-empty path (see [`fstack_binance::cli::path`]).
pub fn path(v: &str) -> Result<PathBuf, String> {
    fstack_binance::cli::path(v)
}

/// Value parser: `--resolve HOST:PORT:ADDR` (curl's form).
pub fn resolve(v: &str) -> Result<fstack_binance::cli::Resolve, String> {
    fstack_binance::cli::Resolve::parse(v).map_err(|e| e.0)
}

/// A `SCHEME://HOST[:PORT]/...` URL for a TLS client, parsed by the `url` crate (WHATWG rules):
/// the URL, its host (a lowercase name or an IP literal: dialed, sent as SNI, verified) and
/// port (the scheme's default when absent). User info is refused, and so is port 0.
pub fn tls_url(s: &str, scheme: &str) -> Result<(url::Url, String, u16), String> {
    let url = url::Url::parse(s).map_err(|e| format!("not a URL: {e}"))?;
    if url.scheme() != scheme {
        let article = if scheme.starts_with(['a', 'e', 'i', 'o', 'u', 'h']) {
            "an"
        } else {
            "a"
        };
        return Err(format!("not {article} {scheme}:// URL"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("user info in the URL is not supported".into());
    }
    let host = match url.host() {
        Some(url::Host::Domain(d)) => d.to_owned(),
        Some(url::Host::Ipv4(a)) => a.to_string(),
        Some(url::Host::Ipv6(a)) => a.to_string(),
        None => return Err("bad host".into()),
    };
    let port = url.port_or_known_default().unwrap_or(443);
    if port == 0 {
        return Err("port 0 cannot be connected to".into());
    }
    Ok((url, host, port))
}

/// Value parser: a socket address, `ADDR:PORT` (IPv6 as `[ADDR]:PORT`).
pub fn socket_addr(v: &str) -> Result<SocketAddr, String> {
    v.parse()
        .map_err(|_| "expected ADDR:PORT (IPv6 as [ADDR]:PORT)".into())
}

/// Value parser: a socket address to send to, `ADDR:PORT` (IPv6 as `[ADDR]:PORT`) with a port
/// other than 0 (which names no peer).
pub fn destination(v: &str) -> Result<SocketAddr, String> {
    match socket_addr(v)? {
        a if a.port() == 0 => Err("port 0 is not a destination".into()),
        a => Ok(a),
    }
}

/// Value parser: a positive number of seconds (decimals allowed).
pub fn seconds(v: &str) -> Result<Duration, String> {
    v.parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s > 0.0)
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .filter(|d| !d.is_zero())
        .ok_or_else(|| "expected a positive number of seconds".into())
}

/// Value parser: a whole number, 0 or more.
pub fn whole(v: &str) -> Result<usize, String> {
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err("expected a whole number".into());
    }
    v.parse().map_err(|_| "number out of range".into())
}

/// Value parser factory: a whole number in `min..=max`. Bounds keep a typo such as an extra
/// zero from turning into an allocation that aborts the program.
pub fn whole_in(
    min: usize,
    max: usize,
) -> impl Fn(&str) -> Result<usize, String> + Clone + Send + Sync + 'static {
    move |v| match whole(v)? {
        n if n < min => Err(format!("must be at least {min}")),
        n if n > max => Err(format!("must be at most {max}")),
        n => Ok(n),
    }
}

/// Value parser: a file that exists (see [`fstack_binance::cli::existing_file`]).
pub fn existing_file(v: &str) -> Result<PathBuf, String> {
    fstack_binance::cli::existing_file(v)
}

/// Value parser: a whole number, 1 or more.
pub fn positive(v: &str) -> Result<usize, String> {
    match whole(v)? {
        0 => Err("must be at least 1".into()),
        n => Ok(n),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A command line with every kind of option the examples have.
    #[derive(Parser, Debug, PartialEq)]
    #[command(name = "demo", args_override_self = true)]
    struct Demo {
        /// Where to connect
        #[arg(long, value_name = "ADDR:PORT", value_parser = socket_addr)]
        connect: SocketAddr,
        /// How many
        #[arg(long, value_name = "N", default_value = "3", allow_negative_numbers = true, value_parser = positive)]
        count: usize,
        /// How long
        #[arg(long, value_name = "SECS", allow_negative_numbers = true, value_parser = seconds)]
        timeout: Option<Duration>,
        /// A file
        #[arg(long, value_name = "FILE", value_parser = path)]
        file: Option<PathBuf>,
        /// Repeatable
        #[arg(long, value_name = "NAME")]
        name: Vec<String>,
    }

    fn usage(args: &[&str]) -> String {
        match try_parse_from::<Demo, _, _>(args) {
            Err(Stop::Usage(line)) => {
                assert!(!line.contains('\n'), "{line}");
                assert_eq!(line.matches("(see --help)").count(), 1, "{line}");
                line
            }
            other => panic!("{args:?}: {other:?}"),
        }
    }

    #[test]
    fn parses_and_keeps_the_last_value() {
        let d: Demo = try_parse_from([
            "--connect",
            "127.0.0.1:7",
            "--count=5",
            "--count",
            "6",
            "--timeout",
            "0.5",
            "--name",
            "a",
            "--name=b",
        ])
        .unwrap();
        assert_eq!(
            d,
            Demo {
                connect: "127.0.0.1:7".parse().unwrap(),
                count: 6,
                timeout: Some(Duration::from_millis(500)),
                file: None,
                name: vec!["a".into(), "b".into()],
            }
        );
        let d: Demo = try_parse_from(["--connect", "[::1]:7"]).unwrap();
        assert_eq!((d.count, d.timeout), (3, None));
    }

    #[test]
    fn help_is_complete() {
        for flag in ["--help", "-h"] {
            let Err(Stop::Help(text)) = try_parse_from::<Demo, _, _>([flag]) else {
                panic!("{flag}")
            };
            assert!(text.contains("\nUsage: demo "), "{text}");
            for opt in [
                "--connect <ADDR:PORT>",
                "--count <N>",
                "[default: 3]",
                "--timeout",
                "--file",
                "--name",
                "--help",
            ] {
                assert!(text.contains(opt), "{opt} missing from {text}");
            }
        }
    }

    #[test]
    fn errors_are_one_line() {
        let cases: &[(&[&str], &str)] = &[
            (&["--bogus"], "unexpected argument '--bogus' found (see --help)"),
            (&["--connect", "1.2.3.4:5", "extra"], "unexpected argument 'extra' found (see --help)"),
            (&[], "the following required arguments were not provided: --connect <ADDR:PORT> (see --help)"),
            (&["--connect"], "a value is required for '--connect <ADDR:PORT>' but none was supplied (see --help)"),
            (&["--connect", "x"], "invalid value 'x' for '--connect <ADDR:PORT>': expected ADDR:PORT (IPv6 as [ADDR]:PORT) (see --help)"),
            (&["--connect", "1.2.3.4:5", "--count", "-1"], "invalid value '-1' for '--count <N>': expected a whole number (see --help)"),
            (&["--connect", "1.2.3.4:5", "--count", "0"], "invalid value '0' for '--count <N>': must be at least 1 (see --help)"),
            (&["--connect", "1.2.3.4:5", "--count", "99999999999999999999999"], "invalid value '99999999999999999999999' for '--count <N>': number out of range (see --help)"),
            (&["--connect", "1.2.3.4:5", "--timeout", "0"], "invalid value '0' for '--timeout <SECS>': expected a positive number of seconds (see --help)"),
            (&["--connect", "1.2.3.4:5", "--timeout", "-2"], "invalid value '-2' for '--timeout <SECS>': expected a positive number of seconds (see --help)"),
            (&["--connect", "1.2.3.4:5", "--timeout", "1e300"], "invalid value '1e300' for '--timeout <SECS>': expected a positive number of seconds (see --help)"),
            (&["--connect", "1.2.3.4:5", "--timeout", "inf"], "invalid value 'inf' for '--timeout <SECS>': expected a positive number of seconds (see --help)"),
            (&["--connect", "1.2.3.4:5", "--file="], "invalid value '' for '--file <FILE>': needs a path (see --help)"),
        ];
        for (args, want) in cases {
            assert_eq!(usage(args), *want, "{args:?}");
        }
    }

    #[test]
    fn values() {
        assert_eq!(seconds("1e-6"), Ok(Duration::from_micros(1)));
        assert!(seconds("1e-10").is_err()); // rounds to zero
        assert_eq!(whole("0"), Ok(0));
        assert!(whole("+1").is_err());
        assert_eq!(positive("12"), Ok(12));
    }

    #[test]
    fn bounded_whole_numbers() {
        let p = whole_in(1, 100);
        assert_eq!(p("1"), Ok(1));
        assert_eq!(p("100"), Ok(100));
        assert_eq!(p("0"), Err("must be at least 1".into()));
        assert_eq!(p("101"), Err("must be at most 100".into()));
        assert_eq!(
            p("100000000000000000000000"),
            Err("number out of range".into())
        );
    }
}
