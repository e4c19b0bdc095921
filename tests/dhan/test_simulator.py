"""The simulator speaks DhanHQ's protocol: the official SDK and our client both work with it."""

from __future__ import annotations

import asyncio

import dhanhq
import pytest
from dhanhq import DhanContext, MarketFeed

from dhan.client import FeedConnection, FeedCredentials
from dhan.decoder import Decoder
from dhan.errors import FeedAuthError, FeedRateLimitedError
from dhan.packets import PrevClose, Ticker
from dhan.requests import FeedMode
from dhan.segments import InstrumentKey
from tests.support.sdk import in_thread
from tests.support.waiting import wait_until


def on_grid(price: str, tick: str = "0.05") -> bool:
    from decimal import Decimal

    return Decimal(price) % Decimal(tick) == 0


def test_official_sdk_subscribes_in_all_three_modes_and_decodes(
    simulator, monkeypatch, sim_credentials
):
    monkeypatch.setattr(MarketFeed, "market_feed_wss", f"ws://127.0.0.1:{simulator.port}")
    client_id, token = sim_credentials
    instruments = [
        (MarketFeed.NSE, "2885", MarketFeed.Ticker),
        (MarketFeed.NSE, "11536", MarketFeed.Quote),
        (MarketFeed.IDX, "13", MarketFeed.Full),
    ]

    def run_sdk():
        feed = MarketFeed(DhanContext(client_id, token), instruments, version="v2")
        feed.run_forever()
        got = [feed.get_data() for _ in range(24)]
        feed.close_connection()
        feed.loop.close()
        return got

    got = [d for d in in_thread(run_sdk) if isinstance(d, dict)]
    by_type = {}
    for item in got:
        by_type.setdefault(item["type"], []).append(item)
    # DhanHQ sends a previous-close packet for indices only (equities: the quote's close).
    assert {d["security_id"] for d in by_type["Previous Close"]} == {13}
    assert {d["security_id"] for d in by_type["Ticker Data"]} == {2885}
    assert {d["security_id"] for d in by_type["Quote Data"]} == {11536}
    assert {d["security_id"] for d in by_type["Full Data"]} == {13}
    full = by_type["Full Data"][0]
    assert len(full["depth"]) == 5 and on_grid(full["depth"][0]["bid_price"])
    assert all(on_grid(d["LTP"]) for d in by_type["Ticker Data"] + by_type["Quote Data"])

    def request_codes() -> set[int]:
        return {r["RequestCode"] for _, r in simulator.requests if isinstance(r, dict)}

    # The disconnect (12) reaches the simulator's thread after close_connection returns.
    wait_until(lambda: request_codes() >= {15, 17, 21, 12}, timeout=5, what="requests 15-21, 12")


def test_official_sdk_rest_ticker_data_against_simulator(simulator, sim_credentials):
    client_id, token = sim_credentials
    ctx = DhanContext(client_id, token)
    ctx.get_dhan_http().base_url = f"http://127.0.0.1:{simulator.rest_port}/v2"
    response = dhanhq.dhanhq(ctx).ticker_data({"NSE_EQ": [2885, 1333], "IDX_I": [13]})
    assert response["status"] == "success", response
    data = response["data"]["data"]
    assert set(data["NSE_EQ"]) == {"2885", "1333"} and set(data["IDX_I"]) == {"13"}
    assert on_grid(repr(data["NSE_EQ"]["2885"]["last_price"]))


def test_rest_rejects_wrong_token_and_more_than_one_request_per_second(simulator, sim_credentials):
    client_id, token = sim_credentials
    bad = DhanContext(client_id, "wrong-token")
    bad.get_dhan_http().base_url = f"http://127.0.0.1:{simulator.rest_port}/v2"
    response = dhanhq.dhanhq(bad).ticker_data({"NSE_EQ": [2885]})
    assert response["status"] == "failure" and response["remarks"]["error_code"] == "DH-901"
    good = DhanContext(client_id, token)
    good.get_dhan_http().base_url = f"http://127.0.0.1:{simulator.rest_port}/v2"
    first = dhanhq.dhanhq(good).ticker_data({"NSE_EQ": [2885]})
    second = dhanhq.dhanhq(good).ticker_data({"NSE_EQ": [2885]})
    assert first["status"] == "success"
    assert second["status"] == "failure" and second["remarks"]["error_code"] == "DH-904"


def creds(simulator, client_id, token) -> FeedCredentials:
    return FeedCredentials(f"ws://127.0.0.1:{simulator.port}", client_id, token)


async def test_our_client_subscribes_in_batches_and_decodes_ticks(simulator, sim_credentials):
    keys = [InstrumentKey(1, sid) for sid in range(1, 151)]
    async with FeedConnection(creds(simulator, *sim_credentials), decoder=Decoder()) as conn:
        await conn.subscribe(keys, mode=FeedMode.TICKER)
        seen: dict[int, type] = {}
        async with asyncio.timeout(10):
            async for packets in conn.packets():
                for p in packets:
                    if isinstance(p, Ticker):
                        seen[p.security_id] = Ticker
                if len(seen) == 150:
                    break
    counts = [
        r["InstrumentCount"]
        for _, r in simulator.requests
        if isinstance(r, dict) and r.get("RequestCode") == 15
    ]
    assert counts == [100, 50]


async def test_packed_frames_are_all_decoded(sim_credentials):
    from dhan.simulator import DhanSimulator, SimulatorConfig

    sim = DhanSimulator(
        SimulatorConfig(port=0, rest_port=0, ticks_per_second=20, pack_frames=True)
    ).start()
    try:
        async with FeedConnection(creds(sim, *sim_credentials), decoder=Decoder()) as conn:
            indices = [InstrumentKey(0, 13), InstrumentKey(0, 25)]  # prev close comes for these
            await conn.subscribe(indices, mode=FeedMode.TICKER)
            async with asyncio.timeout(10):
                frames = conn.packets()
                first = await anext(frames)
                assert [type(p) for p in first] == [PrevClose, PrevClose]
                tick_frame = await anext(frames)
                while not isinstance(tick_frame[-1], Ticker):
                    tick_frame = await anext(frames)
                assert {p.security_id for p in tick_frame if isinstance(p, Ticker)} == {13, 25}
    finally:
        sim.stop()


@pytest.mark.parametrize(
    ("client_id", "token", "reason"),
    [("1000000001", "wrong-token", 809), ("999", "demo-token", 808)],
)
async def test_wrong_credentials_get_a_disconnect_packet(simulator, client_id, token, reason):
    async with FeedConnection(creds(simulator, client_id, token), decoder=Decoder()) as conn:
        with pytest.raises(FeedAuthError) as err:
            async with asyncio.timeout(5):
                async for _ in conn.packets():
                    pass
    assert err.value.reason == reason
    assert token not in str(err.value)


async def test_sixth_connection_evicts_the_oldest_with_805(simulator, sim_credentials):
    conns = [
        FeedConnection(creds(simulator, *sim_credentials), decoder=Decoder()) for _ in range(6)
    ]
    for conn in conns[:5]:
        await conn.connect()
    async with asyncio.timeout(5):
        while simulator.connection_count < 5:  # the server registers after the handshake
            await asyncio.sleep(0.01)
    assert simulator.connection_count == 5
    await conns[5].connect()
    with pytest.raises(FeedRateLimitedError) as err:
        async with asyncio.timeout(5):
            async for _ in conns[0].packets():
                pass
    assert err.value.reason == 805
    for conn in conns:
        await conn.close()
