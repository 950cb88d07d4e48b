//! Decoded events into the market-data bus's fixed-layout records (feature `bus`).
//!
//! [`publish_event`] writes each event straight into a loaned shared-memory record
//! ([`fstack_bus::BusPublisher::publish`]): no JSON re-encoding, exact decimals as (mantissa,
//! scale) with the scale the exchange sent. A depth event with more than
//! [`record::MAX_LEVELS`] levels continues in further records ([`flags::MORE`], `part`); bids
//! come first, then asks.

use fstack_bus::record::{self, flags, kind, MarketRecord, MAX_INTS};
use fstack_bus::{BusError, BusPublisher};

use crate::decimal::Decimal;
use crate::events::{Levels, MarketEvent, StreamEvent};
use crate::stream::{push_lowercase, TimeUnit};

/// Publishes `ev` on its stream's service (the stream's name as received; for a raw payload
/// without a name, `<symbol>@<event>`). Returns the number of records sent (several for long
/// depth events) and whether every value was carried exactly.
pub fn publish_event(
    bus: &mut BusPublisher,
    ev: &StreamEvent<'_>,
    receive_us: u64,
    unit: TimeUnit,
    scratch: &mut String,
) -> Result<Published, BusError> {
    scratch.clear();
    match &ev.stream {
        Some(s) => scratch.push_str(s.name),
        None => {
            push_lowercase(scratch, ev.symbol());
            scratch.push('@');
            scratch.push_str(ev.event.event_name());
        }
    }
    let stream = scratch.as_str();
    // The fields every record of the event shares (not a whole 888-byte record to copy).
    let mut head = Head {
        receive_us,
        event_time: 0,
        flags: 0,
    };
    if let Some(t) = ev.event_time() {
        head.event_time = t;
        head.flags |= flags::HAS_EVENT_TIME;
    }
    if unit == TimeUnit::Microsecond {
        head.flags |= flags::TIME_MICROS;
    }
    let mut out = Published {
        records: 0,
        exact: true,
    };
    let mut scalar =
        |bus: &mut BusPublisher, k: u8, ints: &[u64], vals: &[Decimal<'_>], m: bool| {
            let mut exact = true;
            bus.publish(stream, |r| {
                header(r, &head, ev.symbol(), k, ints);
                if m {
                    r.flags |= flags::BUYER_MAKER;
                }
                for (i, d) in vals.iter().enumerate() {
                    exact &= put(r, i, d);
                }
                // At most 15 scalar values (the ticker): fits a u8.
                r.n_values = vals.len() as u8;
                if !exact {
                    r.flags |= flags::INEXACT;
                }
            })?;
            out.records += 1;
            out.exact &= exact;
            Ok::<(), BusError>(())
        };
    match &ev.event {
        MarketEvent::Ticker(t) => scalar(
            bus,
            kind::TICKER,
            &[
                t.open_time,
                t.close_time,
                t.first_trade_id as u64,
                t.last_trade_id as u64,
                t.trade_count,
            ],
            &[
                t.price_change,
                t.price_change_percent,
                t.weighted_avg_price,
                t.prev_close_price,
                t.last_price,
                t.last_qty,
                t.bid_price,
                t.bid_qty,
                t.ask_price,
                t.ask_qty,
                t.open_price,
                t.high_price,
                t.low_price,
                t.volume,
                t.quote_volume,
            ],
            false,
        )?,
        MarketEvent::MiniTicker(t) => scalar(
            bus,
            kind::MINI_TICKER,
            &[],
            &[
                t.close_price,
                t.open_price,
                t.high_price,
                t.low_price,
                t.volume,
                t.quote_volume,
            ],
            false,
        )?,
        MarketEvent::BookTicker(t) => scalar(
            bus,
            kind::BOOK_TICKER,
            &[t.update_id],
            &[t.bid_price, t.bid_qty, t.ask_price, t.ask_qty],
            false,
        )?,
        MarketEvent::Trade(t) => scalar(
            bus,
            kind::TRADE,
            &[t.trade_id, t.trade_time],
            &[t.price, t.qty],
            t.buyer_is_maker,
        )?,
        MarketEvent::AggTrade(t) => scalar(
            bus,
            kind::AGG_TRADE,
            &[
                t.agg_trade_id,
                t.first_trade_id,
                t.last_trade_id,
                t.trade_time,
            ],
            &[t.price, t.qty],
            t.buyer_is_maker,
        )?,
        MarketEvent::PartialDepth(d) => {
            let ints = [d.last_update_id];
            depth(
                bus,
                stream,
                &head,
                ev.symbol(),
                kind::PARTIAL_DEPTH,
                &ints,
                d.bids,
                d.asks,
                &mut out,
            )?
        }
        MarketEvent::DepthUpdate(d) => {
            let ints = [d.first_update_id, d.final_update_id];
            depth(
                bus,
                stream,
                &head,
                ev.symbol(),
                kind::DEPTH_UPDATE,
                &ints,
                d.bids,
                d.asks,
                &mut out,
            )?
        }
    }
    Ok(out)
}

/// What [`publish_event`] sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Published {
    /// Records sent.
    pub records: u32,
    /// False if a value could not be carried exactly ([`flags::INEXACT`]).
    pub exact: bool,
}

/// The fields every record of one event shares.
#[derive(Clone, Copy)]
struct Head {
    receive_us: u64,
    event_time: u64,
    flags: u8,
}

fn header(r: &mut MarketRecord, head: &Head, symbol: &str, k: u8, ints: &[u64]) {
    r.receive_us = head.receive_us;
    r.event_time = head.event_time;
    r.flags = head.flags;
    r.kind = k;
    r.set_symbol(symbol);
    for (slot, v) in r.ints.iter_mut().zip(ints.iter().take(MAX_INTS)) {
        *slot = *v;
    }
}

/// Writes `d` into slot `i`; false (slot left 0) when it does not fit exactly.
fn put(r: &mut MarketRecord, i: usize, d: &Decimal<'_>) -> bool {
    match (record::parse_decimal(d.as_str()), r.mantissa.get_mut(i)) {
        (Some((m, s)), Some(slot)) => {
            *slot = m;
            r.scale[i] = s;
            true
        }
        _ => false,
    }
}

#[allow(clippy::too_many_arguments)]
fn depth(
    bus: &mut BusPublisher,
    stream: &str,
    head: &Head,
    symbol: &str,
    k: u8,
    ints: &[u64],
    bids: Levels<'_>,
    asks: Levels<'_>,
    out: &mut Published,
) -> Result<(), BusError> {
    let total = bids.len() + asks.len();
    let mut levels = bids
        .iter()
        .map(|l| (true, l))
        .chain(asks.iter().map(|l| (false, l)));
    let mut sent = 0usize;
    let mut part = 0u8;
    loop {
        let mut exact = true;
        let n = (total - sent).min(record::MAX_LEVELS);
        let more = sent + n < total;
        bus.publish(stream, |r| {
            header(r, head, symbol, k, ints);
            r.part = part;
            if more {
                r.flags |= flags::MORE;
            }
            for (i, (is_bid, l)) in levels.by_ref().take(n).enumerate() {
                if is_bid {
                    r.n_bids += 1;
                } else {
                    r.n_asks += 1;
                }
                exact &= put(r, 2 * i, &l.price);
                exact &= put(r, 2 * i + 1, &l.qty);
            }
            if !exact {
                r.flags |= flags::INEXACT;
            }
        })?;
        out.records += 1;
        out.exact &= exact;
        sent += n;
        part = part.wrapping_add(1);
        if !more {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests;
