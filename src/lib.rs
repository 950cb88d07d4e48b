//! Support code shared by the runnable examples in `examples/`: the logic lives here, tested,
//! and the example binaries stay thin.
#![warn(missing_docs)]

pub mod args;
pub mod http;
pub mod hyper_timer;
pub mod latency;
pub mod mcast;
pub mod udp_echo;
