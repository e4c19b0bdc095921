"""The simulator's price history (`/v2/charts/historical`, `/v2/charts/intraday`) through the
official SDK: DhanHQ's column arrays, `toDate` not included, the same bars from any two
simulators, a last daily close equal to the feed's previous close, past days' minutes that
add up to their daily bar, 5/60-minute bars anchored at 09:15 IST, today's minutes exactly
what the feed streamed, the Data API limit (DH-904), bad ranges (DH-905), accounts without
the Data API (DH-902); and the feed's LTT on DhanHQ's IST clock."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from datetime import date, timedelta
from decimal import Decimal

import pytest
from dhanhq import DhanContext, dhanhq

from dhan.client import FeedConnection, FeedCredentials
from dhan.clock import IST_OFFSET_SECONDS, ist_day, ist_midnight, unix_from_ltt
from dhan.decoder import Decoder
from dhan.packets import Quote
from dhan.requests import FeedMode
from dhan.segments import InstrumentKey
from dhan.simulator import DEMO_ACCESS_TOKEN, DEMO_CLIENT_ID, DhanSimulator, SimulatorConfig
from dhan.simulator.minutes import MinuteRecorder

RELIANCE = InstrumentKey.parse("NSE_EQ:2885")
OTHER_CLIENT_ID, OTHER_TOKEN = "1000000002", "no-data-token"
COLUMNS = {"open", "high", "low", "close", "volume", "timestamp"}
MARKET_OPEN_UTC = 3 * 3600 + 45 * 60  # 09:15 IST, seconds after 00:00 UTC
FAST_CLOCK_SPEED = 60.0  # simulated seconds per real second: a minute every second


def today() -> date:
    return ist_day(time.time())


def last_weekday_before(day: date) -> date:
    day -= timedelta(days=1)
    while day.weekday() >= 5:
        day -= timedelta(days=1)
    return day


def client(sim: DhanSimulator, client_id: str = DEMO_CLIENT_ID, token: str = DEMO_ACCESS_TOKEN):
    ctx = DhanContext(client_id, token)
    ctx.get_dhan_http().base_url = f"http://127.0.0.1:{sim.rest_port}/v2"
    return dhanhq(ctx)


def daily(sdk, start: date, end: date, key: InstrumentKey = RELIANCE) -> dict:
    return sdk.historical_daily_data(
        str(key.security_id), key.segment_name, "EQUITY", str(start), str(end)
    )


def minutes(sdk, start: str, end: str, interval: int | str = 1) -> dict:
    return sdk.intraday_minute_data("2885", "NSE_EQ", "EQUITY", start, end, interval=interval)


def bars(answer: dict) -> list[tuple]:
    """The SDK's answer as (timestamp, open, high, low, close, volume) rows."""
    assert answer["status"] == "success", answer
    data = answer["data"]
    names = ("timestamp", "open", "high", "low", "close", "volume")
    return list(zip(*(data[name] for name in names), strict=True))


def reference_aggregate(rows: list[tuple], width_minutes: int) -> list[tuple]:
    """Bars of `width_minutes` from 1-minute rows, anchored at 09:15 IST, computed here
    independently of the simulator's code."""
    out: dict[int, tuple] = {}
    for ts, o, h, low, c, v in rows:
        anchor = ts - (ts - MARKET_OPEN_UTC) % 86_400  # this day's 03:45 UTC
        start = anchor + (ts - anchor) // (width_minutes * 60) * width_minutes * 60
        if start in out:
            s, o0, h0, l0, _, v0 = out[start]
            out[start] = (s, o0, max(h0, h), min(l0, low), c, v0 + v)
        else:
            out[start] = (start, o, h, low, c, v)
    return list(out.values())


@pytest.fixture
def sim(monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    accounts = {DEMO_CLIENT_ID: DEMO_ACCESS_TOKEN, OTHER_CLIENT_ID: OTHER_TOKEN}
    config = SimulatorConfig(port=0, rest_port=0, ticks_per_second=20, seed=1, accounts=accounts)
    config.no_data_api.add(OTHER_CLIENT_ID)
    simulator = DhanSimulator(config).start()
    yield simulator
    simulator.stop()


def test_official_sdk_gets_daily_bars_as_dhanhq_column_arrays(sim):
    answer = daily(client(sim), today() - timedelta(days=365), today() + timedelta(days=1))
    rows = bars(answer)
    assert set(answer["data"]) == COLUMNS  # open_interest only when asked
    assert len(rows) > 250
    for ts, o, h, low, c, v in rows:
        assert ts % 86_400 == 86_400 - IST_OFFSET_SECONDS  # 00:00 IST = 18:30 UTC
        assert 0 < low <= min(o, c) <= max(o, c) <= h and v >= 0
        assert all(Decimal(str(p)) % Decimal("0.05") == 0 for p in (o, h, low, c))
    days = [ist_day(ts) for ts, *_ in rows]
    assert days == sorted(days) and days[-1] == today()
    assert all(d.weekday() < 5 for d in days[:-1])  # today streams, whatever its weekday


def test_daily_to_date_is_not_included(sim):
    sdk = client(sim)
    end = last_weekday_before(last_weekday_before(today()))
    without = bars(daily(sdk, end - timedelta(days=20), end))
    with_it = bars(daily(sdk, end - timedelta(days=20), end + timedelta(days=1)))
    assert ist_day(without[-1][0]) < end
    assert ist_day(with_it[-1][0]) == end and with_it[:-1] == without


def test_two_simulators_serve_the_same_history(sim):
    other = DhanSimulator(SimulatorConfig(port=0, rest_port=0, seed=99)).start()
    try:
        start = today() - timedelta(days=400)
        assert bars(daily(client(sim), start, today())) == bars(
            daily(client(other), start, today())
        )
        week = (str(today() - timedelta(days=7)), str(today()))
        assert bars(minutes(client(sim), *week)) == bars(minutes(client(other), *week))
    finally:
        other.stop()


async def test_last_daily_close_is_the_feeds_previous_close(sim):
    creds = FeedCredentials(f"ws://127.0.0.1:{sim.port}", DEMO_CLIENT_ID, DEMO_ACCESS_TOKEN)
    async with FeedConnection(creds, decoder=Decoder()) as conn:
        await conn.subscribe([RELIANCE], mode=FeedMode.QUOTE)
        quote = await first_quote(conn)
    rows = await asyncio.to_thread(
        lambda: bars(daily(client(sim), today() - timedelta(days=10), today()))
    )
    assert ist_day(rows[-1][0]) == last_weekday_before(today())
    assert rows[-1][4] == quote.close  # a Quote's close is the previous day's close


async def first_quote(conn: FeedConnection) -> Quote:
    async with asyncio.timeout(10):
        async for packets in conn.packets():
            for packet in packets:
                if isinstance(packet, Quote):
                    return packet
    raise AssertionError("no quote")


def test_past_days_minutes_add_up_to_their_daily_bar(sim):
    sdk = client(sim)
    end = today()
    day_rows = bars(daily(sdk, end - timedelta(days=10), end))
    minute_rows = bars(minutes(sdk, str(end - timedelta(days=10)), str(end)))
    for ts, o, h, low, c, v in day_rows:
        mine = [r for r in minute_rows if ist_day(r[0]) == ist_day(ts)]
        assert len(mine) == 375  # 09:15 to 15:29 IST
        assert mine[0][0] == ts + (9 * 60 + 15) * 60  # the day's 00:00 IST + 09:15
        assert (mine[0][1], max(r[2] for r in mine), min(r[3] for r in mine)) == (o, h, low)
        assert (mine[-1][4], sum(r[5] for r in mine)) == (c, v)


@pytest.mark.parametrize("width", [5, 60])
def test_wider_bars_are_anchored_at_0915_ist(sim, width):
    sdk = client(sim)
    span = (str(today() - timedelta(days=6)), str(today()))
    wide = bars(minutes(sdk, *span, interval=str(width)))  # DhanHQ's docs send a string
    assert wide == reference_aggregate(bars(minutes(sdk, *span)), width)
    assert bars(minutes(sdk, *span, interval=width)) == wide  # the SDK sends an int
    first_of_day = {ist_day(r[0]): r[0] for r in reversed(wide)}
    assert {ts % 86_400 for ts in first_of_day.values()} == {MARKET_OPEN_UTC}
    if width == 60:  # 09:15, 10:15, ... 15:15 IST: seven bars a day, the last 15 minutes
        assert len(wide) == 7 * len(first_of_day)


def fast_clock():
    """A wall clock from 10:00 IST today that runs FAST_CLOCK_SPEED times too fast."""
    base = ist_midnight(today()) + 10 * 3600
    started = time.monotonic()
    return lambda: base + (time.monotonic() - started) * FAST_CLOCK_SPEED


async def test_todays_minutes_are_what_the_feed_streamed(monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    config = SimulatorConfig(port=0, rest_port=0, ticks_per_second=20, seed=5)
    sim = DhanSimulator(config, clock=fast_clock()).start()
    creds = FeedCredentials(f"ws://127.0.0.1:{sim.port}", DEMO_CLIENT_ID, DEMO_ACCESS_TOKEN)
    quotes: list[Quote] = []
    try:
        async with FeedConnection(creds, decoder=Decoder()) as conn:
            await conn.subscribe([RELIANCE], mode=FeedMode.QUOTE)
            stream = conn.packets()
            await read_quotes(stream, quotes, until_minute=lambda: minute_of(quotes[0]) + 180)
            span = (str(today()), str(today() + timedelta(days=1)))
            served = await asyncio.to_thread(lambda: bars(minutes(client(sim), *span)))
            # every packet of a served (completed) minute was sent before it was served
            await read_quotes(stream, quotes, until_minute=lambda: served[-1][0] + 60)
    finally:
        sim.stop()
    assert len(served) >= 3
    expected = streamed_minutes(quotes)
    assert served == [row for row in expected if row[0] <= served[-1][0]]


def minute_of(quote: Quote) -> int:
    ts = unix_from_ltt(quote.ltt)
    return ts - ts % 60


async def read_quotes(stream, quotes: list[Quote], *, until_minute) -> None:
    async with asyncio.timeout(30):
        while not quotes or minute_of(quotes[-1]) < until_minute():
            quotes += [p for p in await anext(stream) if isinstance(p, Quote)]


def streamed_minutes(quotes: list[Quote]) -> list[tuple]:
    """1-minute rows from the packets: bucketed by LTT, volume the rise of the
    cumulative volume (from 0: this client saw the key's first step)."""
    rows: dict[int, list] = {}
    before = 0
    for q in quotes:
        start = minute_of(q)
        row = rows.setdefault(start, [start, q.ltp, q.ltp, q.ltp, q.ltp, 0])
        row[2], row[3], row[4] = max(row[2], q.ltp), min(row[3], q.ltp), q.ltp
        row[5] += q.volume - before
        before = q.volume
    return [tuple(r) for r in rows.values()]


async def test_feed_ltt_is_ist_wall_clock_seconds(simulator, sim_credentials):
    creds = FeedCredentials(f"ws://127.0.0.1:{simulator.port}", *sim_credentials)
    before = int(time.time())
    async with FeedConnection(creds, decoder=Decoder()) as conn:
        await conn.subscribe([RELIANCE], mode=FeedMode.QUOTE)
        quote = await first_quote(conn)
    after = int(time.time())
    assert before + 19_800 <= quote.ltt <= after + 19_800


def test_sixth_data_call_in_a_second_gets_429_dh_904(sim):
    sdk = client(sim)
    day = str(today() - timedelta(days=3))
    answers = [daily(sdk, day, day) for _ in range(6)]  # empty ranges: each a few ms
    assert [a["status"] for a in answers] == ["success"] * 5 + ["failure"]
    assert answers[5]["remarks"]["error_code"] == "DH-904"
    assert answers[5]["remarks"]["error_type"] == "Rate_Limit"
    counts = sim.data_call_counts()[DEMO_CLIENT_ID]
    assert (counts.served, counts.refused) == (5, 1)
    assert sim.rest_calls == 0  # the market quote's count keeps to its own calls
    time.sleep(1.05)  # the window rolls on: a call is served again
    assert minutes(sdk, day, day)["status"] == "success"
    url = f"http://127.0.0.1:{sim.rest_port}/simulator/data-calls"
    with urllib.request.urlopen(url, timeout=5) as response:
        shown = json.load(response)["clients"][DEMO_CLIENT_ID]
    assert shown == {"served": 6, "refused": 1, "not_subscribed": 0}


def test_ninety_one_days_of_minutes_is_dh_905(sim):
    sdk = client(sim)
    end = today() - timedelta(days=1)
    ok = minutes(sdk, str(end - timedelta(days=90)), str(end), interval=15)
    assert ok["status"] == "success" and ok["data"]["timestamp"]
    refused = minutes(sdk, str(end - timedelta(days=91)), str(end))
    assert refused["status"] == "failure" and refused["remarks"]["error_code"] == "DH-905"


@pytest.mark.parametrize("path", ["/v2/charts/historical", "/v2/charts/intraday"])
def test_from_after_to_is_http_400_dh_905(sim, path):
    body = {
        "securityId": "2885",
        "exchangeSegment": "NSE_EQ",
        "instrument": "EQUITY",
        "interval": "1",
        "oi": False,
        "fromDate": str(today() - timedelta(days=2)),
        "toDate": str(today() - timedelta(days=5)),
    }
    headers = {"client-id": DEMO_CLIENT_ID, "access-token": DEMO_ACCESS_TOKEN}
    status, answer = sim.rest_request(path, headers=headers, body=json.dumps(body).encode())
    assert status == 400
    assert answer["errorCode"] == "DH-905" and answer["errorType"] == "Input_Exception"


def test_a_range_without_a_trading_day_is_empty_not_an_error(sim):
    saturday = today() - timedelta(days=7 + (today().weekday() - 5) % 7)
    answer = daily(client(sim), saturday, saturday + timedelta(days=2))
    assert answer["status"] == "success"
    assert answer["data"] == {name: [] for name in COLUMNS}


def test_an_account_without_the_data_api_gets_dh_902(sim):
    answer = daily(client(sim, OTHER_CLIENT_ID, OTHER_TOKEN), today() - timedelta(days=9), today())
    assert answer["status"] == "failure"
    assert answer["remarks"]["error_code"] == "DH-902"
    assert "not subscribed to Data APIs" in answer["remarks"]["error_message"]
    headers = {"client-id": OTHER_CLIENT_ID, "access-token": OTHER_TOKEN}
    status, _ = sim.rest_request("/v2/charts/intraday", headers=headers, body=b"{}")
    assert status == 403
    assert sim.data_call_counts()[OTHER_CLIENT_ID].not_subscribed == 2
    profile = sim.rest.rest_request(
        "/v2/profile", headers={"access-token": OTHER_TOKEN}, body=b"", method="GET"
    )
    assert profile[1]["dataPlan"] == "Deactive"


def test_open_interest_only_when_asked(sim):
    fno = InstrumentKey.parse("NSE_FNO:35000")
    sdk = client(sim)
    answer = sdk.historical_daily_data(
        "35000", "NSE_FNO", "FUTIDX", str(today() - timedelta(days=9)), str(today()), oi=True
    )
    assert answer["status"] == "success", answer
    assert len(answer["data"]["open_interest"]) == len(answer["data"]["close"]) > 0
    assert all(oi > 0 for oi in answer["data"]["open_interest"])
    assert "open_interest" not in daily(sdk, today() - timedelta(days=9), today(), key=fno)["data"]


def test_a_new_ist_day_drops_the_old_minutes_and_volume_is_the_rise():
    recorder = MinuteRecorder()
    day_one = ist_midnight(date(2026, 12, 1)) + 10 * 3600
    recorder.record(RELIANCE, now=day_one, ltp=10.0, volume=100)
    recorder.record(RELIANCE, now=day_one + 30, ltp=11.0, volume=130)
    recorder.record(RELIANCE, now=day_one + 61, ltp=9.0, volume=200)
    assert [b[:6] for b in recorder.bars(RELIANCE, now=day_one + 125)] == [
        (day_one, 10.0, 11.0, 10.0, 11.0, 130),
        (day_one + 60, 9.0, 9.0, 9.0, 9.0, 70),
    ]
    day_two = day_one + 86_400
    recorder.record(RELIANCE, now=day_two, ltp=12.0, volume=250)
    assert recorder.bars(RELIANCE, now=day_one + 125) == []
    assert [b[:6] for b in recorder.bars(RELIANCE, now=day_two, include_forming=True)] == [
        (day_two, 12.0, 12.0, 12.0, 12.0, 50)
    ]
