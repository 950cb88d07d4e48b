//! The feed side: one publish-subscribe service per stream, and the command server.
//!
//! Everything here is non-blocking, so it can run inside the F-Stack loop:
//! * [`BusPublisher::publish`] loans a sample from the shared-memory segment, lets the caller
//!   fill it in place, stamps `seq` and `publish_ns` and sends it; a subscriber's arrival or
//!   departure costs the next send (or [`BusPublisher::update_connections`], which the loop
//!   calls between events) a few system calls to map or unmap its connection. A subscriber whose buffer
//!   is full does not get the record ([`BackpressureStrategy::DiscardData`]); iceoryx2 calls
//!   our backpressure handler with that subscriber's port id, and the drop is counted per
//!   subscriber ([`BusPublisher::drops`]). Safe overflow (overwrite the oldest) is off on
//!   purpose: iceoryx2 would then drop silently, and a counted drop is worth more to an
//!   operator than the freshest record to a subscriber that is not reading anyway.
//! * [`BusPublisher::poll_commands`] takes the waiting requests without blocking; a request
//!   that needs the exchange's answer is kept (bounded) until [`BusPublisher::on_ack`],
//!   [`BusPublisher::on_rejected`] or its deadline.
//! * Dead nodes' resources (a SIGKILLed strategy's port) are removed once per
//!   [`CLEANUP_INTERVAL`] by a helper thread with its own node, so slots do not run out and
//!   memory stays bounded: a cleanup takes a few hundred µs of file-system work, which must
//!   not stall the F-Stack loop. [`BusPublisher::maintain`] only forgets gone subscribers'
//!   drop counts.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use iceoryx2::active_request::ActiveRequest;
use iceoryx2::port::publisher::Publisher;
use iceoryx2::port::server::Server;
use iceoryx2::port::update_connections::UpdateConnections;
use iceoryx2::port::BackpressureAction;
use iceoryx2::prelude::*;

use crate::command::{status, Command, CommandReply};
use crate::record::{MarketRecord, STREAM_CAP};
use crate::{clock, names, BusError};

/// How often the publisher's helper thread removes dead nodes' resources.
pub const CLEANUP_INTERVAL: Duration = Duration::from_secs(1);
/// Gone subscribers whose drop counts [`BusPublisher::drops_all`] still reports.
pub const MAX_GONE_REPORTED: usize = 64;
/// Commands waiting for the exchange at once; more are refused.
pub const MAX_PENDING_COMMANDS: usize = 64;
/// How long a command waits for the exchange before it is answered [`status::LOST`].
pub const COMMAND_DEADLINE: Duration = Duration::from_secs(10);

/// Strategies that can attach to one stream at once by default ([`BusConfig::max_subscribers`]).
pub const DEFAULT_MAX_SUBSCRIBERS: usize = 24;
/// Strategies that can hold the command service open at once.
pub const MAX_COMMAND_CLIENTS: usize = 32;
/// Nodes a service admits beyond its subscribers (or clients): the feed's own node, a
/// restarted feed's while the old one is being cleaned up, and tools that only look.
/// iceoryx2 admits 20 nodes per service unless told otherwise, which would stop the 21st
/// strategy before `max_subscribers` does.
pub const NODE_MARGIN: usize = 8;

/// Sizes of the services the feed creates.
#[derive(Debug, Clone)]
pub struct BusConfig {
    /// The bus name (`--publish NAME`); services are named from it ([`names`]).
    pub name: String,
    /// Subscribers per stream service (a dead one holds its slot until cleaned up).
    pub max_subscribers: usize,
    /// Records each subscriber's buffer holds before new ones are dropped for it.
    pub buffer_size: usize,
}

impl BusConfig {
    /// [`DEFAULT_MAX_SUBSCRIBERS`] subscribers per stream, 1,024 records each (≈ 1 ms at
    /// 1 M events/s).
    pub fn new(name: impl Into<String>) -> BusConfig {
        BusConfig {
            name: name.into(),
            max_subscribers: DEFAULT_MAX_SUBSCRIBERS,
            buffer_size: 1024,
        }
    }
}

/// What the caller decides for one command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandDecision {
    /// Answer now.
    Reply(CommandReply),
    /// The feed sent these control requests; answer when the exchange has acknowledged all
    /// of them (or rejected one).
    Await(Vec<u64>),
}

/// Counters over the publisher's lifetime.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct BusCounters {
    /// Records sent.
    pub published: u64,
    /// Records that could not be loaned or sent (an iceoryx2 error, not a full buffer).
    pub failed: u64,
    /// Records not delivered to a subscriber whose buffer was full (all subscribers).
    pub dropped: u64,
    /// Commands received.
    pub commands: u64,
    /// Commands answered [`status::MALFORMED`].
    pub malformed: u64,
}

type Drops = Arc<Mutex<HashMap<u128, u64>>>;
type Request = ActiveRequest<ipc::Service, Command, (), CommandReply, ()>;

struct StreamPort {
    name: String,
    publisher: Publisher<ipc::Service, MarketRecord, ()>,
    /// Keeps the service open while the publisher lives; its dynamic config counts subscribers.
    service: iceoryx2::service::port_factory::publish_subscribe::PortFactory<
        ipc::Service,
        MarketRecord,
        (),
    >,
    seq: u64,
}

struct Pending {
    request: Request,
    ids: Vec<u64>,
    deadline: Instant,
}

/// Publishes records per stream and serves commands. See the module docs.
pub struct BusPublisher {
    node: Node<ipc::Service>,
    config: BusConfig,
    /// Stream services in creation order; `by_name` indexes them.
    streams: Vec<StreamPort>,
    by_name: HashMap<String, usize>,
    /// The stream published last: consecutive records of one stream skip the hash lookup.
    last: usize,
    drops: Drops,
    server: CommandServer,
    _command_service: CommandService,
    /// Oldest first: a rejection without an id answers the oldest (the exchange answers in
    /// order), so removals keep the order.
    pending: VecDeque<Pending>,
    counters: BusCounters,
    /// Drops of subscribers no longer connected (their entries left `drops`).
    dropped_gone: u64,
    /// Drop counts of the most recently gone subscribers (at most [`MAX_GONE_REPORTED`]), so
    /// the feed's summary still names a strategy that had drops and left before it.
    gone: VecDeque<(u128, u64)>,
    next_cleanup: Instant,
    _janitor: Janitor,
}

/// The helper thread that removes dead nodes' resources; stopped and joined on drop.
struct Janitor {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Janitor {
    fn start() -> Janitor {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("bus-cleanup".into())
            .spawn(move || {
                let Ok(node) = NodeBuilder::new()
                    .signal_handling_mode(SignalHandlingMode::Disabled)
                    .create::<ipc::Service>()
                else {
                    return; // without a node nothing can be cleaned; strategies still clean up
                };
                let step = Duration::from_millis(50);
                let mut waited = Duration::ZERO;
                while !flag.load(Ordering::Acquire) {
                    if waited >= CLEANUP_INTERVAL {
                        node.try_cleanup_dead_nodes();
                        waited = Duration::ZERO;
                    }
                    std::thread::sleep(step);
                    waited += step;
                }
            })
            .ok();
        Janitor { stop, thread }
    }
}

impl Drop for Janitor {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl std::fmt::Debug for BusPublisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BusPublisher")
            .field("config", &self.config)
            .field("streams", &self.streams.len())
            .field("pending", &self.pending.len())
            .field("counters", &self.counters)
            .finish()
    }
}

impl BusPublisher {
    /// Creates the node (removing dead nodes' stale resources first) and the command service.
    /// Stream services are created by [`open_stream`](Self::open_stream) or on the first
    /// record of a stream.
    pub fn new(config: BusConfig) -> Result<BusPublisher, BusError> {
        crate::quiet_logs();
        names::check(&config.name)?;
        // The feed has its own SIGINT/SIGTERM handling; iceoryx2 must not install another.
        let node = NodeBuilder::new()
            .signal_handling_mode(SignalHandlingMode::Disabled)
            .create::<ipc::Service>()
            .map_err(|e| BusError::new("creating the iceoryx2 node", e))?;
        node.try_cleanup_dead_nodes();
        let (command_service, server) = open_command_server(&node, &config.name)?;
        Ok(BusPublisher {
            node,
            config,
            streams: Vec::new(),
            by_name: HashMap::new(),
            last: 0,
            drops: Arc::default(),
            server,
            _command_service: command_service,
            pending: VecDeque::new(),
            counters: BusCounters::default(),
            dropped_gone: 0,
            gone: VecDeque::new(),
            next_cleanup: Instant::now() + CLEANUP_INTERVAL,
            _janitor: Janitor::start(),
        })
    }

    /// The bus name.
    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// Counters so far.
    pub fn counters(&self) -> BusCounters {
        let mut c = self.counters;
        c.dropped = self.drops_total();
        c
    }

    /// Records dropped per subscriber port id (iceoryx2's `UniqueSubscriberId` value), for
    /// connected subscribers whose buffer was ever full.
    pub fn drops(&self) -> Vec<(u128, u64)> {
        let map = self.drops.lock().unwrap_or_else(|e| e.into_inner());
        let mut v: Vec<_> = map.iter().map(|(&k, &n)| (k, n)).collect();
        v.sort_unstable();
        v
    }

    fn drops_total(&self) -> u64 {
        let map = self.drops.lock().unwrap_or_else(|e| e.into_inner());
        self.dropped_gone + map.values().sum::<u64>()
    }

    /// Creates (or opens) the service of `stream` now, so that strategies can attach before
    /// its first event.
    pub fn open_stream(&mut self, stream: &str) -> Result<(), BusError> {
        self.port_index(stream).map(|_| ())
    }

    /// The index of `stream`'s port in `streams`, creating the service on first use.
    fn port_index(&mut self, stream: &str) -> Result<usize, BusError> {
        if let Some(&i) = self.by_name.get(stream) {
            return Ok(i);
        }
        check_stream_fits(stream)?;
        let name = service_name(&names::stream(&self.config.name, stream))?;
        let service = self
            .node
            .service_builder(&name)
            .publish_subscribe::<MarketRecord>()
            .max_subscribers(self.config.max_subscribers)
            .max_nodes(self.config.max_subscribers + NODE_MARGIN)
            .subscriber_max_buffer_size(self.config.buffer_size)
            .subscriber_max_borrowed_samples(4)
            .history_size(0)
            .max_publishers(2)
            .enable_safe_overflow(false)
            .open_or_create()
            .map_err(|e| BusError::new("opening a stream service", e))?;
        let drops = Arc::clone(&self.drops);
        let publisher = service
            .publisher_builder()
            .max_loaned_samples(2)
            .backpressure_strategy(BackpressureStrategy::DiscardData)
            // Called only when a subscriber's buffer is full: count, then drop for it alone.
            .set_backpressure_handler(move |info: &iceoryx2::port::BackpressureInfo| {
                let mut map = drops.lock().unwrap_or_else(|e| e.into_inner());
                *map.entry(info.receiver_port_id).or_default() += 1;
                BackpressureAction::DiscardData
            })
            .create()
            .map_err(|e| BusError::new("creating a publisher", e))?;
        self.streams.push(StreamPort {
            name: stream.to_owned(),
            publisher,
            service,
            seq: 0,
        });
        let i = self.streams.len() - 1;
        self.by_name.insert(stream.to_owned(), i);
        Ok(i)
    }

    /// Loans a record of `stream`'s service, zeroes it, lets `fill` write the event, stamps
    /// `stream`, `seq` and `publish_ns`, and sends it. Returns the `seq` sent.
    ///
    /// Never waits for a subscriber, and makes no system call in the steady state. When a
    /// subscriber attached or left since the last send (or [`update_connections`]), iceoryx2's
    /// send first maps or unmaps its connection (a handful of system calls, ~0.1–0.3 ms);
    /// [`update_connections`] lets the loop do that between events instead.
    ///
    /// Zeroing the whole record (888 bytes) costs a few ns and keeps every byte a subscriber
    /// can read defined and deterministic (zero past the counts), so it stays.
    ///
    /// [`update_connections`]: Self::update_connections
    pub fn publish(
        &mut self,
        stream: &str,
        fill: impl FnOnce(&mut MarketRecord),
    ) -> Result<u64, BusError> {
        let i = match self.streams.get(self.last) {
            Some(p) if p.name == stream => self.last,
            _ => {
                let i = self.port_index(stream)?;
                self.last = i;
                i
            }
        };
        let port = &mut self.streams[i];
        let mut sample = match port.publisher.loan_uninit() {
            Ok(s) => s,
            Err(e) => {
                self.counters.failed += 1;
                return Err(BusError::new("loaning a sample", e));
            }
        };
        // SAFETY: every field of MarketRecord is an integer or an array of integers, so the
        // all-zero bit pattern written first is a valid value before `assume_init`.
        let mut sample = unsafe {
            std::ptr::write_bytes(sample.payload_mut().as_mut_ptr(), 0, 1);
            sample.assume_init()
        };
        let record = sample.payload_mut();
        fill(record);
        record.set_stream(stream);
        port.seq += 1;
        record.seq = port.seq;
        record.publish_ns = clock::monotonic_ns();
        match sample.send() {
            Ok(_) => {
                self.counters.published += 1;
                Ok(port.seq)
            }
            Err(e) => {
                self.counters.failed += 1;
                Err(BusError::new("sending a sample", e))
            }
        }
    }

    /// Takes every waiting command (non-blocking) and answers it per `decide`. Commands that
    /// cannot be read are answered [`status::MALFORMED`] without calling `decide`.
    pub fn poll_commands(
        &mut self,
        now: Instant,
        mut decide: impl FnMut(&Command) -> CommandDecision,
    ) {
        loop {
            let request = match self.server.receive() {
                Ok(Some(r)) => r,
                Ok(None) => break,
                Err(_) => {
                    self.counters.failed += 1;
                    break;
                }
            };
            self.counters.commands += 1;
            let command = *request.payload();
            if let Err(why) = command.stream() {
                self.counters.malformed += 1;
                reply(&request, CommandReply::new(status::MALFORMED, 0, 0, why));
                continue;
            }
            match decide(&command) {
                CommandDecision::Reply(r) => {
                    if r.status == status::MALFORMED {
                        self.counters.malformed += 1;
                    }
                    reply(&request, r)
                }
                CommandDecision::Await(ids) if ids.is_empty() => reply(
                    &request,
                    CommandReply::new(status::OK, 0, 0, "nothing to send"),
                ),
                CommandDecision::Await(_) if self.pending.len() >= MAX_PENDING_COMMANDS => reply(
                    &request,
                    CommandReply::new(status::REFUSED, 0, 0, "too many commands in flight"),
                ),
                CommandDecision::Await(ids) => self.pending.push_back(Pending {
                    request,
                    ids,
                    deadline: now + COMMAND_DEADLINE,
                }),
            }
        }
        let mut i = 0;
        while i < self.pending.len() {
            if now >= self.pending[i].deadline {
                let Some(p) = self.pending.remove(i) else {
                    break;
                };
                let r = CommandReply::new(status::LOST, p.ids[0], 0, "no answer from the exchange");
                reply(&p.request, r);
            } else {
                i += 1;
            }
        }
    }

    /// The exchange acknowledged control request `id`: a command waiting for it, once all its
    /// requests are acknowledged, is answered [`status::OK`].
    pub fn on_ack(&mut self, id: u64) {
        let Some(i) = self.pending.iter().position(|p| p.ids.contains(&id)) else {
            return;
        };
        self.pending[i].ids.retain(|&x| x != id);
        if self.pending[i].ids.is_empty() {
            let Some(p) = self.pending.remove(i) else {
                return;
            };
            reply(
                &p.request,
                CommandReply::new(status::OK, id, 0, "acknowledged"),
            );
        }
    }

    /// The exchange rejected control request `id` (or, with `None`, a request it could not
    /// name: the oldest waiting command takes the answer, as the exchange answers in order).
    pub fn on_rejected(&mut self, id: Option<u64>, code: i64, msg: &str) {
        let i = match id {
            Some(id) => self.pending.iter().position(|p| p.ids.contains(&id)),
            None => (!self.pending.is_empty()).then_some(0),
        };
        if let Some(p) = i.and_then(|i| self.pending.remove(i)) {
            let rid = id.unwrap_or(p.ids[0]);
            reply(
                &p.request,
                CommandReply::new(status::REJECTED, rid, code, msg),
            );
        }
    }

    /// At most once per [`CLEANUP_INTERVAL`], forgets the per-subscriber drop counts of
    /// subscribers that are gone (their drops stay in [`BusCounters::dropped`]), so
    /// strategies restarting for days do not grow the map. A few µs; no file-system work.
    pub fn maintain(&mut self, now: Instant) {
        if now < self.next_cleanup {
            return;
        }
        self.next_cleanup = now + CLEANUP_INTERVAL;
        let mut live = Vec::new();
        for port in &self.streams {
            port.service.dynamic_config().list_subscribers(|d| {
                live.push(d.subscriber_id.value());
                CallbackProgression::Continue
            });
        }
        let mut map = self.drops.lock().unwrap_or_else(|e| e.into_inner());
        let mut left = Vec::new();
        map.retain(|id, n| {
            let keep = live.contains(id);
            if !keep {
                self.dropped_gone += *n;
                left.push((*id, *n));
            }
            keep
        });
        drop(map);
        self.remember_gone(left);
    }

    fn remember_gone(&mut self, left: Vec<(u128, u64)>) {
        for entry in left {
            if self.gone.len() == MAX_GONE_REPORTED {
                self.gone.pop_front();
            }
            self.gone.push_back(entry);
        }
    }

    /// Records dropped per subscriber port id over the feed's life: connected subscribers and
    /// the last [`MAX_GONE_REPORTED`] that left (their earlier drops stay counted in
    /// [`BusCounters::dropped`]). For the summary: strategies often stop before the feed.
    pub fn drops_all(&self) -> Vec<(u128, u64)> {
        let mut v = self.drops();
        v.extend(self.gone.iter().copied());
        v.sort_unstable();
        v
    }

    /// Connects every stream's publisher to subscribers that arrived and disconnects those that
    /// left, now. iceoryx2 otherwise does this inside the next `send` (and so inside
    /// [`publish`](Self::publish)): one atomic load per stream when nothing changed, but
    /// 0.1–0.5 ms of system calls (open and map the new subscriber's connection, unmap a gone
    /// one's) when something did. It never waits for the subscriber, which finishes its side
    /// before it registers. Calling this between events (`binance_ticker` does, with the
    /// command poll) takes that work off the next record's path, unless a subscriber arrives
    /// in between. Same thread as `publish`: iceoryx2's `ipc` publisher is single-threaded.
    pub fn update_connections(&mut self) -> Result<(), BusError> {
        for port in &self.streams {
            port.publisher
                .update_connections()
                .map_err(|e| BusError::new("updating connections", e))?;
        }
        Ok(())
    }

    /// Subscribers currently connected to `stream`'s service (dead ones until cleaned up).
    pub fn subscribers(&self, stream: &str) -> usize {
        self.by_name
            .get(stream)
            .map(|&i| &self.streams[i])
            .map_or(0, |p| p.service.dynamic_config().number_of_subscribers())
    }
}

/// Records carry the stream name in [`STREAM_CAP`] bytes: a longer one would reach
/// strategies cut, and two streams could then look the same. Refused when its service is
/// created (before the loop for the streams given at start).
fn check_stream_fits(stream: &str) -> Result<(), BusError> {
    if stream.len() > STREAM_CAP {
        return Err(BusError::plain(format!(
            "stream name {stream} is {} bytes; a record holds {STREAM_CAP}",
            stream.len()
        )));
    }
    Ok(())
}

type CommandService = iceoryx2::service::port_factory::request_response::PortFactory<
    ipc::Service,
    Command,
    (),
    CommandReply,
    (),
>;
type CommandServer = Server<ipc::Service, Command, (), CommandReply, ()>;

/// Opens bus `name`'s command service and creates its only server: the service allows one,
/// so a second feed with the same name is refused while the first one lives, instead of
/// both publishing on the same streams. A killed feed's server is removed by the dead-node
/// cleanup that runs before this.
fn open_command_server(
    node: &Node<ipc::Service>,
    name: &str,
) -> Result<(CommandService, CommandServer), BusError> {
    let service = node
        .service_builder(&service_name(&names::commands(name))?)
        .request_response::<Command, CommandReply>()
        .max_active_requests_per_client(4)
        .max_clients(MAX_COMMAND_CLIENTS)
        .max_nodes(MAX_COMMAND_CLIENTS + NODE_MARGIN)
        .max_servers(1)
        .open_or_create()
        .map_err(|e| BusError::new("opening the command service", e))?;
    let server = service
        .server_builder()
        .backpressure_strategy(BackpressureStrategy::DiscardData)
        .create();
    match server {
        Ok(server) => Ok((service, server)),
        Err(
            iceoryx2::service::port_factory::server::ServerCreateError::ExceedsMaxSupportedServers,
        ) => Err(BusError::in_use(name)),
        Err(e) => Err(BusError::new("creating the command server", e)),
    }
}

fn reply(request: &Request, r: CommandReply) {
    // A client that went away cannot be answered; nothing else to do.
    let _ = request.send_copy(r);
}

pub(crate) fn service_name(name: &str) -> Result<ServiceName, BusError> {
    ServiceName::new(name).map_err(|e| BusError::new("service name", e))
}
