"""The simulator's 20-level depth feed: the official SDK's `FullDepth` decodes it, and its
book agrees with the market feed's LTP and full packets."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal

import pytest
from dhanhq import DhanContext, FullDepth
from websockets.asyncio.client import connect

from dhan.decoder import Decoder
from dhan.depth import DepthDisconnect, DepthSide, decode_depth, depth_messages
from dhan.segments import InstrumentKey
from tests.support.sdk import in_thread

RELIANCE = InstrumentKey.parse("NSE_EQ:2885")
TCS = InstrumentKey.parse("NSE_EQ:11536")


def depth_url(simulator, client_id: str, token: str) -> str:
    return (
        f"ws://127.0.0.1:{simulator.port}/twentydepth?token={token}&clientId={client_id}&authType=2"
    )


def test_official_sdk_full_depth_decodes_twenty_levels(simulator, sim_credentials):
    client_id, token = sim_credentials

    def run_sdk():
        # The SDK's `subscribe_symbols` breaks on websockets >= 14; the instrument list
        # given at construction is subscribed as it connects.
        fd = FullDepth(
            DhanContext(client_id, token), [(FullDepth.NSE, "2885"), (FullDepth.NSE, "11536")], 20
        )
        fd.ws_url = f"ws://127.0.0.1:{simulator.port}/twentydepth"
        fd.run_forever()

        async def read() -> dict[tuple[int, str], list[dict]]:
            seen: dict[tuple[int, str], list[dict]] = {}
            while len(seen) < 4:
                async for update in fd.get_instrument_data():  # one frame, every packet
                    seen[(update["security_id"], update["type"])] = update["depth"]
            return seen

        try:
            return fd.loop.run_until_complete(read())
        finally:
            fd.loop.run_until_complete(fd.ws.close())

    seen = in_thread(run_sdk)
    assert set(seen) == {(2885, "Bid"), (2885, "Ask"), (11536, "Bid"), (11536, "Ask")}
    for security_id in (2885, 11536):
        bids, asks = seen[(security_id, "Bid")], seen[(security_id, "Ask")]
        assert len(bids) == len(asks) == 20
        bid_prices = [Decimal(f"{r['price']:.2f}") for r in bids]
        ask_prices = [Decimal(f"{r['price']:.2f}") for r in asks]
        assert bid_prices == sorted(bid_prices, reverse=True)
        assert ask_prices == sorted(ask_prices)
        assert bid_prices[0] < ask_prices[0]
        assert all(p % Decimal("0.05") == 0 for p in bid_prices + ask_prices)
        assert all(r["quantity"] >= r["orders"] >= 1 for r in bids + asks)


async def test_depth_book_brackets_the_ltp_and_matches_full_packets_top_five(
    simulator, sim_credentials
):
    client_id, token = sim_credentials
    simulator.silent = True  # hold the price still while both feeds are read
    async with connect(depth_url(simulator, client_id, token)) as ws:
        await ws.send(depth_messages(23, [RELIANCE, TCS])[0])
        frame = await asyncio.wait_for(ws.recv(), 5)
    sides = decode_depth(frame, decoder=Decoder())
    assert {(s.security_id, s.side) for s in sides} == {
        (2885, "bid"),
        (2885, "ask"),
        (11536, "bid"),
        (11536, "ask"),
    }
    book = {(s.security_id, s.side): s.rows for s in sides if isinstance(s, DepthSide)}
    ltp = simulator.prices.snapshot(RELIANCE)["ltp"]
    assert book[(2885, "bid")][0].price < ltp <= book[(2885, "ask")][0].price
    bids, asks = simulator.prices.depth(RELIANCE, 5)
    assert [r.price for r in book[(2885, "bid")][:5]] == [b[0] for b in bids]
    assert [r.quantity for r in book[(2885, "ask")][:5]] == [a[1] for a in asks]


async def test_depth_refuses_more_than_fifty_and_ignores_unsupported_segments(
    simulator, sim_credentials
):
    client_id, token = sim_credentials
    async with connect(depth_url(simulator, client_id, token)) as ws:
        body = {
            "RequestCode": 23,
            "InstrumentCount": 1,
            "InstrumentList": [{"ExchangeSegment": "BSE_EQ", "SecurityId": "500325"}],
        }
        await ws.send(json.dumps(body))
        await asyncio.sleep(0.3)
        assert simulator.depth.subscribed_keys() == set()
        many = [InstrumentKey(1, 1000 + i) for i in range(51)]
        body["InstrumentList"] = [
            {"ExchangeSegment": "NSE_EQ", "SecurityId": str(k.security_id)} for k in many
        ]
        await ws.send(json.dumps(body))
        frame = await asyncio.wait_for(ws.recv(), 5)
    assert decode_depth(frame, decoder=Decoder()) == [DepthDisconnect(804)]


@pytest.mark.parametrize("token", ["wrong"])
async def test_depth_wrong_token_gets_809(simulator, sim_credentials, token):
    client_id, _ = sim_credentials
    async with connect(depth_url(simulator, client_id, token)) as ws:
        frame = await asyncio.wait_for(ws.recv(), 5)
    assert decode_depth(frame, decoder=Decoder()) == [DepthDisconnect(809)]
