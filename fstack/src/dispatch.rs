//! Multi-process F-Stack: a packet dispatcher (`ff_regist_packet_dispatcher`, `ff_api.h`).
//!
//! # How F-Stack runs several processes
//!
//! One process per lcore of `[dpdk] lcore_mask`, started with
//! [`ProcType::Primary`](crate::ProcType) (`--proc-id 0`, first) and
//! [`ProcType::Secondary`](crate::ProcType) (`--proc-id 1..`). Each owns one RX and one TX queue
//! of every port (queue id = proc id) and a FreeBSD stack of its own: sockets, connections and
//! ARP tables are not shared. All processes answer on the same addresses.
//!
//! The NIC decides which queue, hence which process, a packet reaches: RSS hashes the flow.
//! F-Stack makes replies come back to the process that *connected*: an outgoing connect picks
//! a local port whose RSS hash (with the port's key and redirection table) points at the
//! process's own queue (`ff_rss_check`, `lib/ff_dpdk_if.c`). That only works when the NIC
//! really does RSS with the key F-Stack assumes; virtio and TAP ports do not, and then replies
//! land on whatever queue the device picked.
//!
//! A dispatcher fixes both directions: F-Stack calls it for every packet a process receives
//! from its RX queue, before the stack sees it, and moves the packet to the queue it returns
//! (through a DPDK ring per queue that the owning process drains, `dispatch_ring_p<P>_q<Q>`).
//! Typical rules: a listener's port to the process that listens on it; a connection's local
//! port to the process that opened it (give each process its own range with a bind before
//! connect, and map the range back here).
//!
//! ARP and NDP: F-Stack copies them to every queue itself, *after* the dispatcher; return the
//! arriving queue ([`Packet::queue_id`]) for packets that are not yours to place.
//!
//! The dispatcher runs on the F-Stack thread of each process that registered one; register
//! it in every process (each holds its own copy) before [`Stack::run`](crate::Stack::run).

use std::cell::{Cell, RefCell};
use std::ffi::{c_int, c_void};
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

use crate::error::Result;
use crate::ffi;

/// `FF_DISPATCH_ERROR` (`ff_api.h`): F-Stack frees the packet.
const FF_DISPATCH_ERROR: c_int = -1;

#[cfg(fstack_backend = "fstack")]
const _: () = assert!(fstack_sys::FF_DISPATCH_ERROR == FF_DISPATCH_ERROR);

/// Where a packet goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dispatch {
    /// To this queue's process (the arriving one: processed here). A queue id at or above
    /// [`Packet::nb_queues`] makes F-Stack drop the packet (`lib/ff_dpdk_if.c`).
    Queue(u16),
    /// Dropped (`FF_DISPATCH_ERROR`).
    Drop,
}

/// A packet as the dispatcher sees it: the Ethernet frame's first segment.
#[derive(Debug)]
pub struct Packet<'a> {
    data: &'a [u8],
    queue_id: u16,
    nb_queues: u16,
}

impl<'a> Packet<'a> {
    /// The frame (first mbuf segment), from the Ethernet header on.
    pub fn data(&self) -> &'a [u8] {
        self.data
    }

    /// The queue (= proc id) the packet arrived on.
    pub fn queue_id(&self) -> u16 {
        self.queue_id
    }

    /// How many queues (processes) the port has.
    pub fn nb_queues(&self) -> u16 {
        self.nb_queues
    }

    /// The TCP or UDP `(source port, destination port)` of an unfragmented IPv4 or IPv6
    /// packet (Ethernet II, optionally one 802.1Q tag; IPv6 without extension headers), else
    /// `None`.
    pub fn ports(&self) -> Option<(u16, u16)> {
        let d = self.data;
        let be16 = |at: usize| Some(u16::from_be_bytes([*d.get(at)?, *d.get(at + 1)?]));
        let mut l3 = 14;
        let mut ethertype = be16(12)?;
        if ethertype == 0x8100 {
            ethertype = be16(16)?;
            l3 = 18;
        }
        let (proto, l4) = match ethertype {
            0x0800 => {
                let ihl = usize::from(*d.get(l3)? & 0x0f) * 4;
                // More fragments, or a fragment offset: no ports (or not these).
                if ihl < 20 || be16(l3 + 6)? & 0x3fff != 0 {
                    return None;
                }
                (*d.get(l3 + 9)?, l3 + ihl)
            }
            0x86dd => (*d.get(l3 + 6)?, l3 + 40),
            _ => return None,
        };
        match proto {
            6 | 17 => Some((be16(l4)?, be16(l4 + 2)?)),
            _ => None,
        }
    }
}

type Dispatcher = Box<dyn FnMut(&Packet<'_>) -> Dispatch>;

thread_local! {
    /// The registered dispatcher, on the F-Stack thread that F-Stack calls it on.
    static DISPATCHER: RefCell<Option<Dispatcher>> = const { RefCell::new(None) };
    /// A panic of the dispatcher was reported already (reported once, not per packet).
    static PANIC_REPORTED: Cell<bool> = const { Cell::new(false) };
    /// The dispatcher is running on this thread (read by the panic hook).
    static IN_DISPATCHER: Cell<bool> = const { Cell::new(false) };
}

/// Installs, once per process, a panic hook in front of the one in place: it stays silent for
/// a panic of the dispatcher after the first one was reported on this thread, and hands every
/// other panic to the previous hook. A hook set later with [`panic::set_hook`] replaces it.
fn install_quiet_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if IN_DISPATCHER.get() && PANIC_REPORTED.get() {
                return;
            }
            previous(info);
        }));
    });
}

/// Registers `dispatcher` for every packet this process receives
/// (`ff_regist_packet_dispatcher`); it replaces a previous one. Call it on the F-Stack thread
/// after [`Stack::init`](crate::Stack::init), before [`Stack::run`](crate::Stack::run).
///
/// It must not block: it runs inside F-Stack's receive path. It never unwinds into F-Stack: a
/// panic is caught and the packet stays on the queue it arrived on (as without a dispatcher);
/// the dispatcher stays registered for the next packet. The first panic is reported on stderr
/// once: the panic hook's message (by default `thread '…' panicked at …`) and a line saying
/// what happens to the packets; later panics of the dispatcher print nothing (this call
/// installs, once, a panic hook in front of the one in place that stays silent for them; a
/// hook set afterwards with [`std::panic::set_hook`] replaces it and sees every panic).
///
/// On the kernel backend (no packets, no queues): [`Error::Unsupported`](crate::Error).
pub fn set_packet_dispatcher<F>(dispatcher: F) -> Result<()>
where
    F: FnMut(&Packet<'_>) -> Dispatch + 'static,
{
    ffi::ensure("ff_regist_packet_dispatcher", ffi::Need::Thread)?;
    let previous = DISPATCHER.with(|d| d.replace(Some(Box::new(dispatcher))));
    if let Err(e) = ffi::regist_packet_dispatcher(trampoline) {
        DISPATCHER.with(|d| *d.borrow_mut() = previous);
        return Err(e);
    }
    install_quiet_hook();
    Ok(())
}

/// The `dispatch_func_t` handed to F-Stack.
///
/// # Safety
/// F-Stack passes the first segment's data and a pointer to its length (`lib/ff_dpdk_if.c`,
/// `process_packets`), valid for the call.
unsafe extern "C" fn trampoline(
    data: *mut c_void,
    len: *mut u16,
    queue_id: u16,
    nb_queues: u16,
) -> c_int {
    if data.is_null() || len.is_null() {
        return c_int::from(queue_id);
    }
    // SAFETY: `len` points to the segment's length, valid for the call (see above).
    let len = usize::from(unsafe { *len });
    // SAFETY: `data` is valid for reads of `len` bytes during the call; nothing writes to it
    // meanwhile (the dispatcher gets a shared slice).
    let frame = unsafe { std::slice::from_raw_parts(data.cast::<u8>(), len) };
    dispatch(frame, queue_id, nb_queues)
}

/// Runs the registered dispatcher on one frame; the value F-Stack expects. Never unwinds.
fn dispatch(frame: &[u8], queue_id: u16, nb_queues: u16) -> c_int {
    let packet = Packet {
        data: frame,
        queue_id,
        nb_queues,
    };
    let was_inside = IN_DISPATCHER.replace(true);
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
        DISPATCHER.with(|d| match d.try_borrow_mut() {
            Ok(mut slot) => slot.as_mut().map(|f| f(&packet)),
            // Re-entered from inside the dispatcher: not F-Stack's behaviour, but keep the
            // packet where it is rather than fail.
            Err(_) => None,
        })
    }));
    IN_DISPATCHER.set(was_inside);
    match outcome {
        Ok(Some(Dispatch::Queue(q))) => c_int::from(q),
        Ok(Some(Dispatch::Drop)) => FF_DISPATCH_ERROR,
        Ok(None) => c_int::from(queue_id),
        Err(_) => {
            if !PANIC_REPORTED.with(|r| r.replace(true)) {
                eprintln!(
                    "fstack: the packet dispatcher panicked; packets it panics on stay on the \
                     queue they arrived on"
                );
            }
            c_int::from(queue_id)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An Ethernet + IPv4 + TCP header: 10.77.0.1:40000 -> 10.77.0.2:9001.
    fn tcp4(flags_frag: [u8; 2]) -> Vec<u8> {
        let mut f = vec![0u8; 14 + 20 + 20];
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        f[14] = 0x45;
        f[20..22].copy_from_slice(&flags_frag);
        f[23] = 6;
        f[34..36].copy_from_slice(&40000u16.to_be_bytes());
        f[36..38].copy_from_slice(&9001u16.to_be_bytes());
        f
    }

    fn udp6_vlan() -> Vec<u8> {
        let mut f = vec![0u8; 18 + 40 + 8];
        f[12..14].copy_from_slice(&[0x81, 0x00]);
        f[16..18].copy_from_slice(&[0x86, 0xdd]);
        f[18 + 6] = 17;
        f[58..60].copy_from_slice(&7u16.to_be_bytes());
        f[60..62].copy_from_slice(&9000u16.to_be_bytes());
        f
    }

    fn packet(data: &[u8]) -> Packet<'_> {
        Packet {
            data,
            queue_id: 0,
            nb_queues: 2,
        }
    }

    #[test]
    fn ports_of_tcp4_udp6_and_others() {
        assert_eq!(packet(&tcp4([0x40, 0])).ports(), Some((40000, 9001)));
        assert_eq!(packet(&udp6_vlan()).ports(), Some((7, 9000)));
        // A first fragment (more fragments set) and a later one: no ports.
        assert_eq!(packet(&tcp4([0x20, 0])).ports(), None);
        assert_eq!(packet(&tcp4([0x00, 0x10])).ports(), None);
        // ARP, and a frame cut short.
        let mut arp = vec![0u8; 42];
        arp[12..14].copy_from_slice(&[0x08, 0x06]);
        assert_eq!(packet(&arp).ports(), None);
        assert_eq!(packet(&tcp4([0x40, 0])[..36]).ports(), None);
    }

    #[test]
    fn dispatch_maps_queues_drops_and_survives_panics() {
        // Without a dispatcher the packet stays where it arrived.
        assert_eq!(dispatch(&tcp4([0x40, 0]), 1, 2), 1);

        let seen = std::rc::Rc::new(std::cell::Cell::new(0u32));
        let count = seen.clone();
        DISPATCHER.with(|d| {
            *d.borrow_mut() = Some(Box::new(move |p: &Packet<'_>| {
                count.set(count.get() + 1);
                match p.ports() {
                    Some((_, 9999)) => panic!("dispatcher bug"),
                    Some((_, dst)) if (9000..9002).contains(&dst) => Dispatch::Queue(dst - 9000),
                    Some(_) => Dispatch::Drop,
                    None => Dispatch::Queue(p.queue_id()),
                }
            }))
        });
        assert_eq!(dispatch(&tcp4([0x40, 0]), 0, 2), 1);
        assert_eq!(dispatch(&udp6_vlan(), 1, 2), 0);
        let mut arp = vec![0u8; 42];
        arp[12..14].copy_from_slice(&[0x08, 0x06]);
        assert_eq!(dispatch(&arp, 1, 2), 1);
        let mut other = tcp4([0x40, 0]);
        other[36..38].copy_from_slice(&80u16.to_be_bytes());
        assert_eq!(dispatch(&other, 0, 2), FF_DISPATCH_ERROR);
        // A panic: caught, the packet stays on its queue, the next packet is dispatched.
        let mut bad = tcp4([0x40, 0]);
        bad[36..38].copy_from_slice(&9999u16.to_be_bytes());
        assert_eq!(dispatch(&bad, 1, 2), 1);
        assert_eq!(dispatch(&tcp4([0x40, 0]), 0, 2), 1);
        assert_eq!(seen.get(), 6);
        DISPATCHER.with(|d| *d.borrow_mut() = None);
    }

    #[test]
    fn only_the_first_dispatcher_panic_reaches_the_panic_hook() {
        thread_local! {
            /// This thread's panics seen by the hook; `None` on other threads.
            static HOOK_CALLS: Cell<Option<u32>> = const { Cell::new(None) };
        }
        // A hook that counts this thread's panics (other threads' go to the default hook),
        // then the quiet hook in front of it (the order set_packet_dispatcher gives a
        // program's own hook). No other test of this binary installs the quiet hook.
        HOOK_CALLS.set(Some(0));
        let default = panic::take_hook();
        panic::set_hook(Box::new(move |info| match HOOK_CALLS.get() {
            Some(n) => HOOK_CALLS.set(Some(n + 1)),
            None => default(info),
        }));
        install_quiet_hook();
        DISPATCHER.with(|d| {
            *d.borrow_mut() = Some(Box::new(|p: &Packet<'_>| match p.ports() {
                Some((_, 9999)) => panic!("dispatcher bug"),
                _ => Dispatch::Queue(0),
            }))
        });
        let mut bad = tcp4([0x40, 0]);
        bad[36..38].copy_from_slice(&9999u16.to_be_bytes());
        for _ in 0..3 {
            assert_eq!(dispatch(&bad, 1, 2), 1);
        }
        assert_eq!(dispatch(&tcp4([0x40, 0]), 1, 2), 0);
        assert_eq!(HOOK_CALLS.get(), Some(1), "the first panic only");
        assert!(PANIC_REPORTED.get());
        assert!(!IN_DISPATCHER.get());
        // A panic outside the dispatcher still reaches the hook.
        assert!(panic::catch_unwind(|| panic!("elsewhere")).is_err());
        assert_eq!(HOOK_CALLS.get(), Some(2));
        DISPATCHER.with(|d| *d.borrow_mut() = None);
    }

    #[test]
    fn trampoline_reads_the_frame_and_length() {
        let mut frame = tcp4([0x40, 0]);
        let mut len = frame.len() as u16;
        // SAFETY: a live frame of `len` bytes and its length, as F-Stack passes them.
        let q = unsafe { trampoline(frame.as_mut_ptr().cast(), &mut len, 1, 2) };
        assert_eq!(q, 1, "no dispatcher on this thread: stays on queue 1");
        // SAFETY: null pointers are rejected before any read.
        let q = unsafe { trampoline(std::ptr::null_mut(), &mut len, 0, 2) };
        assert_eq!(q, 0);
    }
}
