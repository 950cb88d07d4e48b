//! Market-data bus: decoded Binance events fanned out to strategy processes over iceoryx2's
//! zero-copy shared memory, and commands coming back.
//!
//! * [`record`]: the fixed-layout [`MarketRecord`] (exact decimals, no pointers) and its
//!   exact text/JSON rendering.
//! * [`names`]: service names from the bus name and the stream.
//! * [`BusPublisher`]: the feed side (one service per stream, non-blocking sends, per-subscriber
//!   drop counts, the command server).
//! * [`BusSubscriber`]: the strategy side (attaches to every stream of a bus, detects sequence
//!   gaps, measures hand-off latency) and [`CommandClient`].
//! * [`command`]: the command and reply layouts.
//!
//! This crate does not depend on F-Stack: strategies build without it.
#![warn(missing_docs)]

pub mod clock;
pub mod command;
pub mod names;
pub mod publisher;
pub mod record;
pub mod subscriber;

pub use command::{Command, CommandReply};
pub use publisher::{BusConfig, BusCounters, BusPublisher, CommandDecision};
pub use record::MarketRecord;
pub use subscriber::{BusSubscriber, CommandClient, Received};

/// iceoryx2 logs warnings on stderr (e.g. that no config file exists, which is how this
/// crate runs: defaults). Errors only, unless `IOX2_LOG_LEVEL` says otherwise.
fn quiet_logs() {
    iceoryx2::prelude::set_log_level_from_env_or(iceoryx2::prelude::LogLevel::Error);
}

/// A bus operation failed: what was being done and iceoryx2's error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusError {
    what: &'static str,
    detail: String,
}

impl BusError {
    pub(crate) fn new(what: &'static str, e: impl std::fmt::Debug) -> BusError {
        BusError {
            what,
            detail: format!("{e:?}"),
        }
    }

    /// Another live feed already publishes bus `name`.
    pub(crate) fn in_use(name: &str) -> BusError {
        BusError {
            what: "bus name in use",
            detail: format!("another running feed already publishes bus {name}"),
        }
    }

    /// True when another live feed already publishes this bus.
    pub fn is_in_use(&self) -> bool {
        self.what == "bus name in use"
    }

    /// A complete message of its own (no iceoryx2 error to append).
    pub(crate) fn plain(message: String) -> BusError {
        BusError {
            what: "",
            detail: message,
        }
    }

    pub(crate) fn msg(what: &'static str) -> BusError {
        BusError {
            what,
            detail: String::new(),
        }
    }
}

impl std::fmt::Display for BusError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.detail.is_empty() {
            f.write_str(self.what)
        } else if self.what.is_empty() {
            f.write_str(&self.detail)
        } else {
            write!(f, "{}: {}", self.what, self.detail)
        }
    }
}

impl std::error::Error for BusError {}
