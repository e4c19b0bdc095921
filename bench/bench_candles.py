"""Quote packets a second through the live candle builder (`dhan.candles`), one core, beside
the scanner's figure on the same frames. Target (issue 21): at least 500,000 a second. (Full
packets too, for the figure: `make run`'s demo streams in full mode.)

The feed: frames of one Quote (or Full) packet over 200 instruments, 1,000 packets a second
of feed time (the LTT advances a second every 1,000 packets, so minutes turn and seal as in
a session), most of them new trades, the rest the last trade re-sent with a book change.
The feed thread's other calls are timed too: `seal` every 0.25 s of feed time, and
`drain_forming` (the scanner's drains, for its figure) every 50 ms of the benchmark's own
time, as the feed thread flushes.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from dhan.candles import IST_OFFSET_SECONDS, CandleBuilder
from dhan.decoder import Decoder
from dhan.packets import DepthLevel, Full, Quote, encode_full, encode_quote
from dhan.scanner import LtpScanner

INSTRUMENTS = 200
PACKETS = 200_000
FEED_RATE = 1_000  # packets a second of feed time (LTT)
SEAL_EVERY = FEED_RATE // 4  # packets: every 0.25 s of feed time
CHECK_EVERY = 50  # packets between looks at the time
DRAIN_SECONDS = 0.05  # the feed's flush
TICK = 0.05
TARGET = 500_000  # Quote packets a second
_BOOK = (DepthLevel(10, 10, 1, 1, 100.0, 100.05),) * 5


def make_feed(*, new_trades: float, start: int, full: bool = False, seed: int = 21) -> list[bytes]:
    """`PACKETS` quote (or full) frames from `start` (Unix seconds), a share `new_trades` of
    them new trades (volume up, price a random walk), the rest the key's last trade re-sent."""
    rng = random.Random(seed)
    last: dict[int, tuple[int, int, int]] = {}  # security id -> (ticks, LTT, cumulative)
    out = []
    for i in range(PACKETS):
        sid = rng.randint(1, INSTRUMENTS)
        ltt = start + IST_OFFSET_SECONDS + i // FEED_RATE
        ticks, was, cum = last.get(sid, (rng.randint(2_000, 60_000), ltt, 0))
        if sid not in last or rng.random() < new_trades:
            ticks, was, cum = ticks + rng.randint(-2, 2), ltt, cum + rng.randint(1, 500)
        last[sid] = (ticks, was, cum)
        price = ticks * TICK
        quote = Quote(1, sid, price, 1, was, price, cum, 0, 0, price, price, price, price)
        if full:
            out.append(encode_full(Full(*quote[:9], 0, 0, 0, *quote[9:], _BOOK)))
        else:
            out.append(encode_quote(quote))
    return out


def _run(
    scan: Callable[[bytes], object],
    frames: list[bytes],
    *,
    drain: Callable[[], object],
    tick: Callable[[int], None] | None = None,
) -> float:
    """Seconds to scan `frames`, calling `drain()` every 50 ms and `tick(packets done)`
    every `CHECK_EVERY` packets."""
    start = time.perf_counter()
    drained = start
    for first in range(0, len(frames), CHECK_EVERY):
        for frame in frames[first : first + CHECK_EVERY]:
            scan(frame)
        if tick is not None:
            tick(first + CHECK_EVERY)
        if (now := time.perf_counter()) - drained >= DRAIN_SECONDS:
            drain()
            drained = now
    drain()
    return time.perf_counter() - start


def candle_rate(frames: list[bytes], decoder: Decoder, *, start: int) -> tuple[float, int]:
    """Packets a second through `CandleBuilder.scan` (best of 7, a new builder each: the
    LTTs are near the real clock, as a live feed's are), and the bars it sealed."""
    best, sealed = float("inf"), 0
    for _ in range(7):
        builder = CandleBuilder(decoder, round_the_clock=True)
        closed: list = []

        def tick(done: int, builder: CandleBuilder = builder, closed: list = closed) -> None:
            if done % SEAL_EVERY == 0:
                closed.extend(builder.seal(start + done / FEED_RATE))

        seconds = _run(builder.scan, frames, drain=builder.drain_forming, tick=tick)
        best = min(best, seconds)
        sealed = len(closed)
    return len(frames) / best, sealed


def scanner_rate(frames: list[bytes], decoder: Decoder) -> float:
    scanner = LtpScanner(decoder, keep_quotes=True)  # quote mode, as the feed runs it

    def drain() -> None:
        scanner.drain()
        scanner.drain_quotes()

    return len(frames) / min(_run(scanner.scan, frames, drain=drain) for _ in range(7))


def main() -> dict[str, float]:
    decoder = Decoder({(1, sid): TICK for sid in range(1, INSTRUMENTS + 1)})
    start = int(time.time())
    print(
        f"candles: packets/s through CandleBuilder.scan, {PACKETS:,} frames of one packet, "
        f"{INSTRUMENTS} instruments, {FEED_RATE:,} a second of LTT (best of 7, one core)"
    )
    print(f"  {'packets':<20}{'LtpScanner':>12}{'CandleBuilder':>15}{'bars sealed':>13}")
    figures = {}
    for share, full in ((0.8, False), (1.0, False), (1.0, True)):
        frames = make_feed(new_trades=share, start=start, full=full)
        rate, sealed = candle_rate(frames, decoder, start=start)
        name = f"{'full' if full else 'quote'}, {share:.0%} new"
        figures[name] = rate
        scanned = scanner_rate(frames, decoder)
        print(f"  {name:<20}{scanned:>12,.0f}{rate:>15,.0f}{sealed:>13,}")
    worst = min(rate for name, rate in figures.items() if name.startswith("quote"))
    verdict = "met" if worst >= TARGET else "NOT met"
    print(
        "  LtpScanner in quote mode (keep_quotes), drained every 50 ms. CandleBuilder: "
        f"{worst:,.0f} Quote packets/s at worst (target >= {TARGET:,}: {verdict})"
    )
    return figures


if __name__ == "__main__":
    main()
