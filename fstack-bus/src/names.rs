//! Service names, derived from the bus name (`--publish NAME`) and the stream:
//! * `NAME/md/<stream>`: the records of one stream (`feed/md/btcusdt@ticker`);
//! * `NAME/cmd`: the command service (request-response).
//!
//! A strategy attaches to every service under `NAME/md/` ([`crate::BusSubscriber`] lists
//! them), so a stream the feed subscribes later shows up without a restart.

use crate::BusError;

/// The prefix of every stream service of bus `name`.
pub fn stream_prefix(name: &str) -> String {
    format!("{name}/md/")
}

/// The service carrying `stream`'s records.
pub fn stream(name: &str, stream: &str) -> String {
    format!("{name}/md/{stream}")
}

/// The command service.
pub fn commands(name: &str) -> String {
    format!("{name}/cmd")
}

/// Checks a bus name: 1 to 64 characters of `[A-Za-z0-9_.-]` (it becomes part of file names
/// in iceoryx2's shared-memory directory).
pub fn check(name: &str) -> Result<(), BusError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(BusError::msg(
            "bus name must be 1 to 64 characters of letters, digits, '_', '.', '-'",
        ))
    }
}
