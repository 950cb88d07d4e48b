#!/usr/bin/env python3
"""A Python strategy on the market-data bus of `binance_ticker --publish NAME`.

The same options and output as `cargo run --example strategy_demo`: it attaches to every
stream service under NAME/md/ (new ones too), prints a text or JSON line per record, checks
sequence numbers and prints hand-off latency percentiles on stderr at the end.

    python3 -m pip install 'iceoryx2==0.10.*'
    python3 examples/strategy_demo.py --service feed --format json

The record is read in place in shared memory through a ctypes structure matching
`fstack_bus::record::MarketRecord` (see the README's "Record layout"); the JSON line is byte
for byte what the Rust example prints for the same record.
"""

import argparse
import ctypes
import json
import math
import os
import re
import signal
import sys
import time

import iceoryx2 as iox2

MAX_VALUES = 80
MAX_INTS = 6
SYMBOL_CAP = 24
STREAM_CAP = 56

TICKER, MINI_TICKER, BOOK_TICKER, TRADE, AGG_TRADE, PARTIAL_DEPTH, DEPTH_UPDATE = range(1, 8)
HAS_EVENT_TIME, TIME_MICROS, BUYER_MAKER, MORE, INEXACT = 1, 2, 4, 8, 16

KIND_NAMES = {
    TICKER: "ticker",
    MINI_TICKER: "miniTicker",
    BOOK_TICKER: "bookTicker",
    TRADE: "trade",
    AGG_TRADE: "aggTrade",
    PARTIAL_DEPTH: "depth",
    DEPTH_UPDATE: "depth",
}
INT_FIELDS = {
    TICKER: ["O", "C", "F", "L", "n"],
    BOOK_TICKER: ["u"],
    TRADE: ["t", "T"],
    AGG_TRADE: ["a", "f", "l", "T"],
    PARTIAL_DEPTH: ["lastUpdateId"],
    DEPTH_UPDATE: ["U", "u"],
}
VALUE_FIELDS = {
    TICKER: ["p", "P", "w", "x", "c", "Q", "b", "B", "a", "A", "o", "h", "l", "v", "q"],
    MINI_TICKER: ["c", "o", "h", "l", "v", "q"],
    BOOK_TICKER: ["b", "B", "a", "A"],
    TRADE: ["p", "q"],
    AGG_TRADE: ["p", "q"],
}
# Listing reads iceoryx2's service directory: often until a stream is attached, then once a
# second (for streams the feed adds).
FIRST_SCAN_INTERVAL = 0.1
SCAN_INTERVAL = 1.0


# fstack_bus::names::check: the bus name becomes part of file names in iceoryx2's directory.
BUS_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def check_bus_name(name: str):
    """None when `name` is a valid bus name, else the Rust side's message."""
    if BUS_NAME.fullmatch(name):
        return None
    return "bus name must be 1 to 64 characters of letters, digits, '_', '.', '-'"


class MarketRecord(ctypes.Structure):
    """fstack_bus::record::MarketRecord, field by field (offsets in the README)."""

    _fields_ = [
        ("seq", ctypes.c_uint64),
        ("publish_ns", ctypes.c_uint64),
        ("receive_us", ctypes.c_uint64),
        ("event_time", ctypes.c_uint64),
        ("ints", ctypes.c_uint64 * MAX_INTS),
        ("kind", ctypes.c_uint8),
        ("flags", ctypes.c_uint8),
        ("symbol_len", ctypes.c_uint8),
        ("stream_len", ctypes.c_uint8),
        ("n_values", ctypes.c_uint8),
        ("n_bids", ctypes.c_uint8),
        ("n_asks", ctypes.c_uint8),
        ("part", ctypes.c_uint8),
        ("symbol", ctypes.c_uint8 * SYMBOL_CAP),
        ("stream", ctypes.c_uint8 * STREAM_CAP),
        ("mantissa", ctypes.c_int64 * MAX_VALUES),
        ("scale", ctypes.c_uint8 * MAX_VALUES),
    ]

    @staticmethod
    def type_name() -> str:
        """The name the Rust side registers (`#[type_name]`): services match on it."""
        return "fstack_bus::MarketRecord"


assert ctypes.sizeof(MarketRecord) == 888, ctypes.sizeof(MarketRecord)


def text(buf, n) -> str:
    return bytes(buf[: min(n, len(buf))]).decode("utf-8", "replace")


def decode_stream(encoded: str) -> str:
    """A stream name from its service name part: fstack_bus::names::decode_stream.

    Service names are ASCII, so the feed writes every byte outside printable ASCII, and `%`,
    as `%XX` (`币安人生usdt@trade` -> `%E5%B8%81...usdt@trade`).
    """
    raw = encoded.encode("ascii", "replace")
    out = bytearray()
    i = 0
    hexdigits = b"0123456789abcdefABCDEF"
    while i < len(raw):
        if raw[i] == ord("%") and i + 2 < len(raw) and raw[i + 1] in hexdigits and raw[i + 2] in hexdigits:
            out.append(int(raw[i + 1 : i + 3], 16))
            i += 3
        else:
            out.append(raw[i])
            i += 1
    return out.decode("utf-8", "replace")


def decimal(m: int, s: int) -> str:
    """mantissa x 10^-scale with exactly `scale` fraction digits: the exchange's string."""
    sign = "-" if m < 0 else ""
    digits = str(abs(m))
    if s == 0:
        return sign + digits
    if len(digits) > s:
        return f"{sign}{digits[:-s]}.{digits[-s:]}"
    return f"{sign}0.{'0' * (s - len(digits))}{digits}"


def json_str(s: str) -> str:
    # The Rust side escapes `"`, `\` and anything outside printable ASCII as \uXXXX.
    return json.dumps(s, ensure_ascii=True)


def to_json(r: MarketRecord) -> str:
    k = r.kind
    parts = [
        f'{{"stream":{json_str(text(r.stream, r.stream_len))}',
        f'"kind":{json_str(KIND_NAMES.get(k, "unknown"))}',
        f'"symbol":{json_str(text(r.symbol, r.symbol_len))}',
        f'"seq":{r.seq}',
        f'"event_time":{r.event_time if r.flags & HAS_EVENT_TIME else "null"}',
    ]
    for slot, name in enumerate(INT_FIELDS.get(k, [])):
        v = r.ints[slot]
        if k == TICKER and slot in (2, 3) and v >= 1 << 63:
            v -= 1 << 64  # F and L are i64 (-1: no trade)
        parts.append(f'"{name}":{v}')
    for slot, name in enumerate(VALUE_FIELDS.get(k, [])[: r.n_values]):
        parts.append(f'"{name}":"{decimal(r.mantissa[slot], r.scale[slot])}"')
    if k in (TRADE, AGG_TRADE):
        parts.append(f'"m":{"true" if r.flags & BUYER_MAKER else "false"}')
    if k in (PARTIAL_DEPTH, DEPTH_UPDATE):
        b, a = ("bids", "asks") if k == PARTIAL_DEPTH else ("b", "a")

        def levels(first, n):
            items = []
            for i in range(first, first + n):
                p = decimal(r.mantissa[2 * i], r.scale[2 * i])
                q = decimal(r.mantissa[2 * i + 1], r.scale[2 * i + 1])
                items.append(f'["{p}","{q}"]')
            return "[" + ",".join(items) + "]"

        parts.append(f'"{b}":{levels(0, r.n_bids)}')
        parts.append(f'"{a}":{levels(r.n_bids, r.n_asks)}')
        parts.append(f'"part":{r.part}')
        parts.append(f'"more":{"true" if r.flags & MORE else "false"}')
    if r.flags & INEXACT:
        # A value did not fit: its slot reads 0, which is not the exchange's value.
        parts.append('"inexact":true')
    return ",".join(parts) + "}"


def mid(bid, ask):
    (bm, bs), (am, as_) = bid, ask
    s = max(bs, as_)
    total = (bm * 10 ** (s - bs) + am * 10 ** (s - as_)) * 5
    return decimal(total, s + 1)


def to_text(r: MarketRecord) -> str:
    line = _text(r)
    return line + " inexact" if r.flags & INEXACT else line


def _text(r: MarketRecord) -> str:
    head = f"{r.seq} {text(r.stream, r.stream_len)} "
    v = lambda i: (r.mantissa[i], r.scale[i])  # noqa: E731
    k = r.kind
    if k == TICKER:
        return head + "mid=" + mid(v(6), v(8))
    if k == BOOK_TICKER:
        return head + "mid=" + mid(v(0), v(2))
    if k in (PARTIAL_DEPTH, DEPTH_UPDATE) and r.n_bids and r.n_asks:
        return head + "mid=" + mid(v(0), v(2 * r.n_bids))
    if k in (TRADE, AGG_TRADE):
        return f"{head}last={decimal(*v(0))} qty={decimal(*v(1))}"
    if k == MINI_TICKER:
        return f"{head}close={decimal(*v(0))}"
    return head + KIND_NAMES.get(k, "unknown")


class LatencyHistogram:
    """Latency counts in fixed log-linear buckets: the Rust example's HdrHistogram (3
    significant digits, 1 ns .. 60 s) bucket for bucket, so memory stays bounded (at most
    27,648 buckets, whatever the run's length) and the percentiles printed are the same values
    the Rust example prints for the same samples.
    """

    HIGHEST = 60_000_000_000  # ns: the highest trackable value
    SUB_BUCKET_MASK = 2047  # 2 * 10^3 distinct values per bucket, rounded up to a power of 2
    # The buckets needed to reach HIGHEST end here (2048 << 25 ns, 68.7 s): like Rust's
    # saturating_record, a sample beyond them counts as HIGHEST, one below counts as itself.
    END = 2048 << 25

    def __init__(self):
        self.counts = {}  # lowest value of a bucket -> samples in it
        self.total = 0
        self.max_value = 0

    @classmethod
    def _bucket(cls, v: int) -> int:
        return (v | cls.SUB_BUCKET_MASK).bit_length() - 11

    @classmethod
    def lowest_equivalent(cls, v: int) -> int:
        b = cls._bucket(v)
        return (v >> b) << b

    @classmethod
    def highest_equivalent(cls, v: int) -> int:
        return cls.lowest_equivalent(v) + (1 << cls._bucket(v)) - 1

    def record(self, v: int):
        v = max(v, 1)
        if v >= self.END:
            v = self.HIGHEST
        key = self.lowest_equivalent(v)
        self.counts[key] = self.counts.get(key, 0) + 1
        self.total += 1
        self.max_value = max(self.max_value, v)

    def value_at_quantile(self, q: float) -> int:
        if not self.total:
            return 0
        target = max(1, math.ceil(min(q, 1.0) * self.total))
        seen = 0
        for key in sorted(self.counts):
            seen += self.counts[key]
            if seen >= target:
                return self.highest_equivalent(key)
        return 0

    def max(self) -> int:
        return self.highest_equivalent(self.max_value) if self.total else 0

    def summary(self) -> str:
        """fstack_bus::BusSubscriber::latency_summary, byte for byte."""
        us = lambda q: self.value_at_quantile(q) / 1000  # noqa: E731
        return (
            f"n={self.total} p50={us(0.5):.2f}us p99={us(0.99):.2f}us "
            f"p99.9={us(0.999):.2f}us max={self.max() / 1000:.2f}us"
        )


class Bus:
    """Every stream service of one bus, with per-stream sequence checks."""

    def __init__(self, name: str):
        iox2.set_log_level_from_env_or(iox2.LogLevel.Error)
        self.prefix = f"{name}/md/"
        self.node = (
            iox2.NodeBuilder.new()
            .signal_handling_mode(iox2.SignalHandlingMode.Disabled)
            .create(iox2.ServiceType.Ipc)
        )
        # Resources of dead nodes (a killed earlier run) go first.
        self.node.try_cleanup_dead_nodes()
        self.ports = {}  # service name -> [service, subscriber, last seq]
        self.failed = {}  # service name -> the failure reported for it
        self.attach_errors = []
        self.received = self.missed = self.restarts = 0
        self.latency_ns = LatencyHistogram()

    def scan(self) -> int:
        added = 0
        for details in iox2.Service.list(iox2.config.global_config(), iox2.ServiceType.Ipc):
            name = details.name().to_string()
            if (
                not name.startswith(self.prefix)
                or details.messaging_pattern() != iox2.MessagingPattern.PublishSubscribe
                or name in self.ports
            ):
                continue
            what = "opening the stream service"
            try:
                service = (
                    self.node.service_builder(iox2.ServiceName.new(name))
                    .publish_subscribe(MarketRecord)
                    .open()
                )
                what = "creating a subscriber"
                subscriber = service.subscriber_builder().create()
            except Exception as e:
                # The feed went away between listing and opening: nothing to say. Anything
                # else (e.g. the stream's subscriber limit) is said once per service and error.
                if not (isinstance(e, iox2.PublishSubscribeOpenError) and str(e) == "DoesNotExist"):
                    line = f"{decode_stream(name[len(self.prefix):])}: {what}: {e}"
                    if self.failed.get(name) != line:
                        self.failed[name] = line
                        self.attach_errors.append(line)
                continue
            self.failed.pop(name, None)
            self.ports[name] = [service, subscriber, 0]
            added += 1
        return added

    def take_attach_errors(self):
        """Streams that could not be attached since the last call (`STREAM: error`), once each."""
        errors, self.attach_errors = self.attach_errors, []
        return errors

    def streams(self):
        return [decode_stream(n[len(self.prefix):]) for n in self.ports]

    def poll(self, on_record) -> int:
        n = 0
        for port in self.ports.values():
            sub = port[1]
            while True:
                sample = sub.receive()
                if sample is None:
                    break
                now = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
                r = sample.payload().contents
                last = port[2]
                if r.seq > last:
                    missed = r.seq - last - 1
                else:
                    self.restarts += 1
                    missed = max(r.seq - 1, 0)
                if last == 0:
                    missed = 0
                port[2] = r.seq
                self.received += 1
                self.missed += missed
                self.latency_ns.record(now - r.publish_ns)
                on_record(r, missed)
                n += 1
        return n


def positive_count(v: str) -> int:
    """--count: at least 1, as the Rust example requires."""
    try:
        n = int(v)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return n


def positive_seconds(v: str) -> float:
    """--duration: a positive, finite number of seconds, as the Rust example requires."""
    try:
        secs = float(v)
    except ValueError:
        secs = 0.0
    if not math.isfinite(secs) or secs <= 0:
        raise argparse.ArgumentTypeError("expected a positive number of seconds")
    return secs


def main() -> int:
    ap = argparse.ArgumentParser(description="Reads the market-data bus of binance_ticker --publish NAME")
    ap.add_argument("--service", required=True, metavar="NAME")
    ap.add_argument("--count", type=positive_count, metavar="N")
    ap.add_argument("--format", choices=["text", "json"], default="text")
    ap.add_argument("--duration", type=positive_seconds, metavar="SECS")
    args = ap.parse_args()
    bad_name = check_bus_name(args.service)
    if bad_name:
        # A bad command line, exit status 2 like argparse's own errors and the Rust example.
        print(f"strategy_demo.py: {bad_name}", file=sys.stderr)
        return 2

    stop = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.append(True))
    bus = Bus(args.service)
    fmt = to_json if args.format == "json" else to_text
    deadline = None if args.duration is None else time.monotonic() + args.duration
    count = args.count if args.count is not None else float("inf")
    out = sys.stdout
    state = {"printed": 0, "gaps": 0, "said_waiting": False}
    write_error = []  # the first OSError writing stdout (e.g. `| head -1` closed it)
    next_scan = 0.0

    def on_record(r, missed):
        if missed:
            state["gaps"] += 1
            print(
                f"strategy_demo.py: gap on {text(r.stream, r.stream_len)}: {missed} record(s) "
                f"missed before seq {r.seq}",
                file=sys.stderr,
            )
        if state["printed"] >= count or write_error:
            return
        state["printed"] += 1
        try:
            out.write(fmt(r) + "\n")
        except OSError as e:
            write_error.append(e)

    idle = 0
    while not stop and not write_error and state["printed"] < count:
        now = time.monotonic()
        if deadline is not None and now >= deadline:
            break
        if now >= next_scan:
            if bus.scan():
                print(f"strategy_demo.py: attached to {', '.join(bus.streams())}", file=sys.stderr)
            for e in bus.take_attach_errors():
                print(f"strategy_demo.py: cannot attach to {e}", file=sys.stderr)
            # Once: a strategy started before its feed (or with a typo in --service) would
            # otherwise wait in silence.
            if not bus.ports and not state["said_waiting"]:
                state["said_waiting"] = True
                print(f"strategy_demo.py: waiting for bus {args.service} ...", file=sys.stderr)
            next_scan = now + (SCAN_INTERVAL if bus.ports else FIRST_SCAN_INTERVAL)
        if bus.poll(on_record) == 0:
            idle += 1
            if idle == 1 and not write_error:
                try:
                    out.flush()
                except OSError as e:
                    write_error.append(e)
            if idle > 2000:
                time.sleep(0.0001)
        else:
            idle = 0
    if not write_error:
        try:
            out.flush()
        except OSError as e:
            write_error.append(e)
    print(
        f"strategy_demo.py: received {bus.received}, missed {bus.missed} in {state['gaps']} gap(s), "
        f"feed restarts {bus.restarts}, hand-off latency {bus.latency_ns.summary()}",
        file=sys.stderr,
    )
    if write_error:
        # Like the Rust example: one line, after the summary. Python's own flush at exit would
        # hit the closed pipe again and print a traceback: point stdout at /dev/null first.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        e = write_error[0]
        print(f"strategy_demo.py: writing to stdout: {e.strerror} (os error {e.errno})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
