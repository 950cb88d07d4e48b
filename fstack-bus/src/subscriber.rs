//! The strategy side: attach to every stream of a bus, read records, send commands.
//!
//! [`BusSubscriber`] never blocks: [`BusSubscriber::poll`] drains what is waiting and
//! returns. It checks each stream's sequence numbers (a gap means this subscriber's buffer
//! overflowed and the feed dropped records for it; a number going back means the feed
//! restarted) and measures hand-off latency against the record's `publish_ns`.

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use iceoryx2::pending_response::PendingResponse;
use iceoryx2::port::client::Client;
use iceoryx2::port::subscriber::Subscriber;
use iceoryx2::prelude::*;
use iceoryx2::service::builder::publish_subscribe::PublishSubscribeOpenError;
use iceoryx2::service::builder::request_response::RequestResponseOpenError;

use crate::command::{Command, CommandReply};
use crate::publisher::service_name;
use crate::record::MarketRecord;
use crate::{clock, names, BusError};

/// One record handed to [`BusSubscriber::poll`]'s callback.
#[derive(Debug)]
pub struct Received<'a> {
    /// The record, read in place in shared memory.
    pub record: &'a MarketRecord,
    /// Records of this stream missed just before this one (0 when contiguous).
    pub missed: u64,
    /// Nanoseconds from the feed's `publish_ns` to this read.
    pub latency_ns: u64,
}

struct Port {
    stream_service: String,
    /// The stream's name, decoded from the service name ([`names::decode_stream`]).
    stream: String,
    subscriber: Subscriber<ipc::Service, MarketRecord, ()>,
    _service: iceoryx2::service::port_factory::publish_subscribe::PortFactory<
        ipc::Service,
        MarketRecord,
        (),
    >,
    last_seq: u64,
}

/// Reads every stream of one bus. See the module docs.
pub struct BusSubscriber {
    node: Node<ipc::Service>,
    prefix: String,
    ports: Vec<Port>,
    /// Records received.
    pub received: u64,
    /// Records missed (sum of gaps).
    pub missed: u64,
    /// Times a stream's sequence went back (the feed restarted).
    pub restarts: u64,
    /// Hand-off latency in nanoseconds.
    pub latency_ns: Histogram<u64>,
    /// Services that failed to open or attach for a reason other than vanishing, with the
    /// error; each is reported once ([`take_attach_errors`](Self::take_attach_errors)).
    failed: Vec<(String, String)>,
    /// Failures not yet taken.
    unreported: Vec<String>,
}

impl std::fmt::Debug for BusSubscriber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BusSubscriber")
            .field("prefix", &self.prefix)
            .field("streams", &self.streams())
            .field("received", &self.received)
            .field("missed", &self.missed)
            .finish()
    }
}

impl BusSubscriber {
    /// A subscriber of bus `name`, attached to nothing yet ([`scan`](Self::scan) attaches).
    /// Dead nodes' stale resources (e.g. this strategy's previous, killed run) are removed
    /// first. With `handle_signals`, iceoryx2 catches SIGINT/SIGTERM and
    /// [`termination_requested`](Self::termination_requested) reports them.
    pub fn new(name: &str, handle_signals: bool) -> Result<BusSubscriber, BusError> {
        crate::quiet_logs();
        names::check(name)?;
        let mode = if handle_signals {
            SignalHandlingMode::HandleTerminationRequests
        } else {
            SignalHandlingMode::Disabled
        };
        let node = NodeBuilder::new()
            .signal_handling_mode(mode)
            .create::<ipc::Service>()
            .map_err(|e| BusError::new("creating the iceoryx2 node", e))?;
        node.try_cleanup_dead_nodes();
        Ok(BusSubscriber {
            node,
            prefix: names::stream_prefix(name),
            ports: Vec::new(),
            received: 0,
            missed: 0,
            restarts: 0,
            latency_ns: Histogram::new_with_bounds(1, 60_000_000_000, 3)
                .map_err(|e| BusError::new("latency histogram", e))?,
            failed: Vec::new(),
            unreported: Vec::new(),
        })
    }

    /// True once SIGINT or SIGTERM arrived (with `handle_signals`).
    pub fn termination_requested(&self) -> bool {
        self.node.wait(Duration::ZERO).is_err()
    }

    /// The streams attached so far (names as the feed subscribed them, e.g.
    /// `币安人生usdt@trade`, whatever their service names' encoding).
    pub fn streams(&self) -> Vec<&str> {
        self.ports.iter().map(|p| p.stream.as_str()).collect()
    }

    /// The port id of this subscriber on each attached stream (iceoryx2's
    /// `UniqueSubscriberId` value): the key of the feed's per-subscriber drop counts
    /// ([`crate::BusPublisher::drops`]).
    pub fn port_ids(&self) -> Vec<u128> {
        self.ports
            .iter()
            .map(|p| p.subscriber.id().value())
            .collect()
    }

    /// Attaches to the bus's stream services not attached yet; returns how many were added.
    pub fn scan(&mut self) -> Result<usize, BusError> {
        let mut found = Vec::new();
        ipc::Service::list(self.node.config(), |details| {
            let name = details.static_details.name().as_str();
            if name.starts_with(&self.prefix)
                && matches!(
                    details.static_details.messaging_pattern(),
                    iceoryx2::service::static_config::messaging_pattern::MessagingPattern::PublishSubscribe(_)
                )
                && !self.ports.iter().any(|p| p.stream_service == name)
            {
                found.push(name.to_owned());
            }
            CallbackProgression::Continue
        })
        .map_err(|e| BusError::new("listing services", e))?;
        let mut added = 0;
        for name in found {
            match self.attach(&name) {
                Ok(Some(port)) => {
                    self.failed.retain(|(n, _)| *n != name);
                    self.ports.push(port);
                    added += 1;
                }
                // A service whose feed just died may vanish between listing and opening.
                Ok(None) => {}
                Err(e) => self.note_failure(name, e),
            }
        }
        Ok(added)
    }

    fn attach(&self, name: &str) -> Result<Option<Port>, BusError> {
        let service = match self
            .node
            .service_builder(&service_name(name)?)
            .publish_subscribe::<MarketRecord>()
            .open()
        {
            Ok(s) => s,
            Err(PublishSubscribeOpenError::DoesNotExist) => return Ok(None),
            Err(e) => return Err(BusError::new("opening the stream service", e)),
        };
        let subscriber = service
            .subscriber_builder()
            .create()
            .map_err(|e| BusError::new("creating a subscriber", e))?;
        Ok(Some(Port {
            stream_service: name.to_owned(),
            stream: names::decode_stream(&name[self.prefix.len()..]),
            subscriber,
            _service: service,
            last_seq: 0,
        }))
    }

    /// Keeps a failure to report, once per service and error: scans repeat every second, and
    /// the same line each time would bury everything else.
    fn note_failure(&mut self, name: String, e: BusError) {
        let e = e.to_string();
        if self.failed.iter().any(|(n, old)| *n == name && *old == e) {
            return;
        }
        let stream = names::decode_stream(&name[self.prefix.len()..]);
        self.unreported.push(format!("{stream}: {e}"));
        self.failed.retain(|(n, _)| *n != name);
        self.failed.push((name, e));
    }

    /// Streams that could not be attached since the last call, one line each (`STREAM:
    /// error`), e.g. a stream already at its subscriber limit; each failure is returned once.
    /// [`scan`](Self::scan) tries them again.
    pub fn take_attach_errors(&mut self) -> Vec<String> {
        std::mem::take(&mut self.unreported)
    }

    /// Reads every waiting record of every attached stream, calling `f` for each; returns how
    /// many were read.
    pub fn poll(&mut self, mut f: impl FnMut(Received<'_>)) -> Result<usize, BusError> {
        let mut n = 0;
        for port in &mut self.ports {
            loop {
                let sample = match port.subscriber.receive() {
                    Ok(Some(s)) => s,
                    Ok(None) => break,
                    Err(e) => return Err(BusError::new("receiving", e)),
                };
                let now = clock::monotonic_ns();
                let record = sample.payload();
                let latency_ns = now.saturating_sub(record.publish_ns);
                let missed = if record.seq > port.last_seq {
                    record.seq - port.last_seq - 1
                } else {
                    // Back to the start: a restarted feed numbers from 1 again.
                    self.restarts += 1;
                    record.seq.saturating_sub(1)
                };
                // The first record after attaching may be mid-stream: not a gap.
                let missed = if port.last_seq == 0 { 0 } else { missed };
                port.last_seq = record.seq;
                self.received += 1;
                self.missed += missed;
                self.latency_ns.saturating_record(latency_ns.max(1));
                f(Received {
                    record,
                    missed,
                    latency_ns,
                });
                n += 1;
            }
        }
        Ok(n)
    }

    /// `p50=… p99=… p99.9=… max=…` of the hand-off latency in microseconds.
    pub fn latency_summary(&self) -> String {
        let h = &self.latency_ns;
        let us = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
        format!(
            "n={} p50={:.2}us p99={:.2}us p99.9={:.2}us max={:.2}us",
            h.len(),
            us(0.5),
            us(0.99),
            us(0.999),
            h.max() as f64 / 1000.0
        )
    }
}

/// Sends commands to the feed of one bus and waits for the replies.
pub struct CommandClient {
    client: Client<ipc::Service, Command, (), CommandReply, ()>,
    _service: iceoryx2::service::port_factory::request_response::PortFactory<
        ipc::Service,
        Command,
        (),
        CommandReply,
        (),
    >,
    _node: Node<ipc::Service>,
}

impl std::fmt::Debug for CommandClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommandClient").finish_non_exhaustive()
    }
}

impl CommandClient {
    /// Opens the command service of bus `name` (the feed must be running: otherwise the error
    /// reads `no feed publishes bus NAME (command service NAME/cmd does not exist)`).
    pub fn new(name: &str) -> Result<CommandClient, BusError> {
        crate::quiet_logs();
        names::check(name)?;
        let node = NodeBuilder::new()
            .signal_handling_mode(SignalHandlingMode::Disabled)
            .create::<ipc::Service>()
            .map_err(|e| BusError::new("creating the iceoryx2 node", e))?;
        let cmd = names::commands(name);
        let service = node
            .service_builder(&service_name(&cmd)?)
            .request_response::<Command, CommandReply>()
            .open()
            .map_err(|e| match e {
                // The usual case (no feed started yet, or a typo): say so in words.
                RequestResponseOpenError::DoesNotExist => BusError::plain(format!(
                    "no feed publishes bus {name} (command service {cmd} does not exist)"
                )),
                e => BusError::new("opening the command service", e),
            })?;
        let client = service
            .client_builder()
            .create()
            .map_err(|e| BusError::new("creating the command client", e))?;
        Ok(CommandClient {
            client,
            _service: service,
            _node: node,
        })
    }

    /// Sends `command` and waits up to `timeout` for the reply.
    pub fn call(&self, command: Command, timeout: Duration) -> Result<CommandReply, BusError> {
        let pending: PendingResponse<ipc::Service, Command, (), CommandReply, ()> = self
            .client
            .send_copy(command)
            .map_err(|e| BusError::new("sending the command", e))?;
        let deadline = Instant::now() + timeout;
        loop {
            match pending.receive() {
                Ok(Some(r)) => return Ok(*r.payload()),
                Ok(None) => {}
                Err(e) => return Err(BusError::new("receiving the reply", e)),
            }
            if Instant::now() >= deadline {
                return Err(BusError::msg("no reply from the feed in time"));
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}
