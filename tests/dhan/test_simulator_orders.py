"""The simulator's orders: the official SDK places, lists, reads and cancels them over REST
and hears their order alerts on `/orderupdate`; accounts are kept apart; the matching model
moves orders as DhanHQ's statuses say; expired tokens are refused everywhere."""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time

import pytest
from dhanhq import DhanContext, OrderUpdate, dhanhq
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from dhan.client import FeedConnection, FeedCredentials
from dhan.decoder import Decoder, TickGrid
from dhan.depth import DepthDisconnect, decode_depth
from dhan.errors import FeedAuthError
from dhan.segments import InstrumentKey
from dhan.simulator import DEMO_ACCESS_TOKEN, DEMO_CLIENT_ID, DhanSimulator, SimulatorConfig
from tests.support.waiting import wait_until

OTHER_CLIENT_ID, OTHER_TOKEN = "1000000002", "second-token"
RELIANCE = InstrumentKey.parse("NSE_EQ:2885")
IST_TIME = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")
GRID = TickGrid.of(0.05)


@pytest.fixture
def sim(monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    accounts = {DEMO_CLIENT_ID: DEMO_ACCESS_TOKEN, OTHER_CLIENT_ID: OTHER_TOKEN}
    config = SimulatorConfig(port=0, rest_port=0, ticks_per_second=20, seed=3, accounts=accounts)
    config.order_requests_per_second = 1000  # tests poll; one test puts DhanHQ's 10/s back
    simulator = DhanSimulator(config, symbols={"NSE_EQ:2885": "RELIANCE"}).start()
    yield simulator
    simulator.stop()


def sdk(sim, client_id=DEMO_CLIENT_ID, token=DEMO_ACCESS_TOKEN):
    ctx = DhanContext(client_id, token)
    ctx.get_dhan_http().base_url = f"http://127.0.0.1:{sim.rest_port}/v2"
    ctx.get_dhan_http().timeout = 5
    return dhanhq(ctx)


def place(dhan, *, quantity=5, order_type="MARKET", side="BUY", price=0.0, segment="NSE_EQ"):
    return dhan.place_order(
        security_id="2885",
        exchange_segment=segment,
        transaction_type=side,
        quantity=quantity,
        order_type=order_type,
        product_type="CNC",
        price=price,
    )


def order_id_of(response) -> str:
    assert response["status"] == "success", response
    return response["data"]["orderId"]


def status(dhan, order_id) -> dict:
    response = dhan.get_order_by_id(order_id)
    assert response["status"] == "success", response
    return response["data"]


def wait_status(dhan, order_id, wanted: str) -> dict:
    return wait_until(
        lambda: (row := status(dhan, order_id))["orderStatus"] == wanted and row,
        timeout=5,
        what=f"order {order_id} {wanted}",
    )


def far_from_ltp(sim, factor: float) -> float:
    return GRID.snap(sim.prices.snapshot(RELIANCE)["ltp"] * factor)


class SdkOrderUpdates:
    """The official SDK's `OrderUpdate` on a thread of its own (it runs its own loop)."""

    def __init__(self, sim, client_id=DEMO_CLIENT_ID, token=DEMO_ACCESS_TOKEN) -> None:
        self.got: list[dict] = []
        self.ou = OrderUpdate(DhanContext(client_id, token))
        self.ou.order_feed_wss = f"ws://127.0.0.1:{sim.port}/orderupdate"
        self.ou.on_update = self.got.append
        logins = sim.order_socket_logins
        self.thread = threading.Thread(target=self.ou.connect_to_dhan_websocket_sync, daemon=True)
        self.thread.start()
        wait_until(lambda: sim.order_socket_logins > logins, timeout=5, what="the SDK's login")

    def statuses(self, order_id: str) -> list[str]:
        return [m["Data"]["Status"] for m in self.got if m["Data"]["OrderNo"] == order_id]


async def login(sim, client_id=DEMO_CLIENT_ID, token=DEMO_ACCESS_TOKEN, msg_code=42):
    ws = await connect(f"ws://127.0.0.1:{sim.port}/orderupdate", proxy=None)
    await ws.send(
        json.dumps(
            {
                "LoginReq": {"MsgCode": msg_code, "ClientId": client_id, "Token": token},
                "UserType": "SELF",
            }
        )
    )
    return ws


async def logged_in(sim, **kwargs):
    logins = sim.order_socket_logins
    ws = await login(sim, **kwargs)
    async with asyncio.timeout(5):
        while sim.order_socket_logins == logins:
            await asyncio.sleep(0.01)
    return ws


async def alerts_until(ws, final: str) -> list[str]:
    """Raw alert texts until one with Status `final` (compared without case)."""
    texts: list[str] = []
    async with asyncio.timeout(5):
        while not texts or json.loads(texts[-1])["Data"]["Status"].upper() != final:
            texts.append(await ws.recv())
    return texts


def test_sdk_places_lists_reads_and_cancels_orders(sim):
    dhan = sdk(sim)
    market = place(dhan, quantity=5)
    assert market["data"]["orderStatus"] == "TRANSIT"
    market_id = order_id_of(market)
    traded = wait_status(dhan, market_id, "TRADED")
    assert traded["filledQty"] == 5 and traded["remainingQuantity"] == 0
    assert GRID.snap(traded["averageTradedPrice"]) == traded["averageTradedPrice"] > 0
    assert traded["exchangeOrderId"] and traded["tradingSymbol"] == "RELIANCE"
    assert all(IST_TIME.match(traded[k]) for k in ("createTime", "updateTime", "exchangeTime"))

    low = far_from_ltp(sim, 0.5)  # a buy this far below the LTP waits
    limit_id = order_id_of(place(dhan, order_type="LIMIT", price=low))
    pending = wait_status(dhan, limit_id, "PENDING")
    assert pending["price"] == low and pending["filledQty"] == 0
    time.sleep(0.3)
    assert status(dhan, limit_id)["orderStatus"] == "PENDING"

    book = dhan.get_order_list()
    assert [row["orderId"] for row in book["data"]] == [limit_id, market_id]  # newest first
    assert {row["dhanClientId"] for row in book["data"]} == {DEMO_CLIENT_ID}

    cancelled = dhan.cancel_order(limit_id)
    assert cancelled["data"] == {"orderId": limit_id, "orderStatus": "CANCELLED"}
    assert status(dhan, limit_id)["orderStatus"] == "CANCELLED"
    for not_open in (limit_id, market_id, "999"):
        again = dhan.cancel_order(not_open)
        assert again["status"] == "failure" and again["remarks"]["error_code"] == "DH-906"
    assert sim.order_statuses(limit_id) == ["TRANSIT", "PENDING", "CANCELLED"]


def test_a_limit_order_trades_at_its_price_once_the_ltp_reaches_it(sim):
    dhan = sdk(sim)
    price = far_from_ltp(sim, 0.5)  # a sell far below the LTP: reached at once
    order_id = order_id_of(place(dhan, order_type="LIMIT", side="SELL", price=price))
    traded = wait_status(dhan, order_id, "TRADED")
    assert traded["averageTradedPrice"] == price and traded["transactionType"] == "SELL"


def test_sdk_order_update_hears_a_rest_order_through_traded(sim):
    updates = SdkOrderUpdates(sim)
    dhan = sdk(sim)
    order_id = order_id_of(place(dhan, quantity=7))
    wait_until(lambda: "Traded" in updates.statuses(order_id), timeout=5, what="Traded")
    assert updates.statuses(order_id) == ["TRANSIT", "PENDING", "Traded"]
    last = updates.got[-1]["Data"]
    row = status(dhan, order_id)
    assert last["ClientId"] == DEMO_CLIENT_ID and last["Source"] == "P"
    assert (last["Exchange"], last["Segment"], last["SecurityId"]) == ("NSE", "E", "2885")
    assert (last["TxnType"], last["OrderType"], last["Product"]) == ("B", "MKT", "C")
    assert (last["Quantity"], last["TradedQty"], last["RemainingQuantity"]) == (7, 7, 0)
    assert last["AvgTradedPrice"] == last["TradedPrice"] == row["averageTradedPrice"]
    assert last["ExchOrderNo"] == row["exchangeOrderId"] and last["Symbol"] == "RELIANCE"
    for key in ("OrderDateTime", "ExchOrderTime", "LastUpdatedTime"):
        assert IST_TIME.match(last[key]), key


def test_a_second_client_never_sees_the_firsts_orders(sim):
    mine, theirs = SdkOrderUpdates(sim), SdkOrderUpdates(sim, OTHER_CLIENT_ID, OTHER_TOKEN)
    dhan, other = sdk(sim), sdk(sim, OTHER_CLIENT_ID, OTHER_TOKEN)
    traded_id = order_id_of(place(dhan))
    open_id = order_id_of(place(dhan, order_type="LIMIT", price=far_from_ltp(sim, 0.5)))
    wait_until(lambda: "Traded" in mine.statuses(traded_id), timeout=5, what="Traded")
    assert other.get_order_list()["data"] == []
    for order_id in (traded_id, open_id):
        answer = other.get_order_by_id(order_id)
        assert answer["status"] == "failure" and answer["remarks"]["error_code"] == "DH-906"
    refused = other.cancel_order(open_id)
    assert refused["status"] == "failure" and refused["remarks"]["error_code"] == "DH-906"
    assert status(dhan, open_id)["orderStatus"] == "PENDING"
    theirs_id = order_id_of(place(other))
    wait_until(lambda: "Traded" in theirs.statuses(theirs_id), timeout=5, what="their Traded")
    assert {m["Data"]["ClientId"] for m in theirs.got} == {OTHER_CLIENT_ID}
    assert {m["Data"]["ClientId"] for m in mine.got} == {DEMO_CLIENT_ID}
    assert [r["orderId"] for r in dhan.get_order_list()["data"]] == [open_id, traded_id]


@pytest.mark.parametrize(
    ("client_id", "token", "msg_code", "code"),
    [
        (DEMO_CLIENT_ID, "wrong-token", 42, "809"),
        ("999", DEMO_ACCESS_TOKEN, 42, "809"),
        (DEMO_CLIENT_ID, DEMO_ACCESS_TOKEN, 41, "814"),
    ],
)
async def test_a_bad_login_gets_the_error_frame_then_close_4001(
    sim, client_id, token, msg_code, code
):
    ws = await login(sim, client_id=client_id, token=token, msg_code=msg_code)
    async with asyncio.timeout(5):
        error = json.loads(await ws.recv())
        with pytest.raises(ConnectionClosed):
            await ws.recv()
    assert error["Type"] == "error" and error["Data"]["ErrorCode"] == code
    assert ws.close_code == 4001 and sim.order_socket_logins == 0


async def test_a_good_login_with_a_string_msg_code_gets_no_reply(sim):
    ws = await logged_in(sim, msg_code="42")
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.3):
            await ws.recv()
    assert sim.order_socket_count == 1
    await ws.close()


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"quantity": 0}, "quantity"),
        ({"orderType": "LIMIT", "price": 100.03}, "tick"),
        ({"exchangeSegment": "NSE_XYZ"}, "exchangeSegment"),
        ({"exchangeSegment": "IDX_I"}, "exchangeSegment"),
        ({"securityId": None}, "missing securityId"),
    ],
)
async def test_bad_orders_are_rejected_with_a_reason(sim, change, reason):
    ws = await logged_in(sim)
    body = {
        "transactionType": "BUY",
        "exchangeSegment": "NSE_EQ",
        "productType": "CNC",
        "orderType": "MARKET",
        "validity": "DAY",
        "securityId": "2885",
        "quantity": 5,
        "price": 0,
    }
    body = {k: v for k, v in {**body, **change}.items() if v is not None}
    dhan = sdk(sim)
    placed = dhan.dhan_http.post("/orders", body)
    assert placed["data"]["orderStatus"] == "REJECTED"
    row = status(dhan, placed["data"]["orderId"])
    assert row["orderStatus"] == "REJECTED" and reason in row["omsErrorDescription"]
    alert = json.loads((await alerts_until(ws, "REJECTED"))[-1])["Data"]
    assert reason in alert["ReasonDescription"] and alert["Status"] == "REJECTED"
    await ws.close()


async def test_a_large_market_order_part_trades_then_trades(sim):
    ws = await logged_in(sim)
    order_id = order_id_of(place(sdk(sim), quantity=2001, side="SELL"))
    alerts = [json.loads(t)["Data"] for t in await alerts_until(ws, "TRADED")]
    assert [a["Status"] for a in alerts] == ["TRANSIT", "PENDING", "PART_TRADED", "Traded"]
    part, done = alerts[2], alerts[3]
    assert (part["TradedQty"], part["RemainingQuantity"]) == (1000, 1001)
    assert (done["TradedQty"], done["RemainingQuantity"]) == (2001, 0)
    average = (1000 * part["TradedPrice"] + 1001 * done["TradedPrice"]) / 2001
    assert done["AvgTradedPrice"] == pytest.approx(average, abs=1e-3)
    assert sim.order_statuses(order_id) == ["TRANSIT", "PENDING", "PART_TRADED", "TRADED"]
    await ws.close()


async def test_the_market_close_expires_open_orders_only(sim):
    ws = await logged_in(sim)
    dhan = sdk(sim)
    traded_id = order_id_of(place(dhan))
    await alerts_until(ws, "TRADED")
    open_id = order_id_of(place(dhan, order_type="LIMIT", price=far_from_ltp(sim, 0.5)))
    await alerts_until(ws, "PENDING")
    assert sim.expire_open_orders() == 1
    alert = json.loads((await alerts_until(ws, "EXPIRED"))[-1])["Data"]
    assert alert["OrderNo"] == open_id and alert["Status"] == "EXPIRED"
    assert status(dhan, open_id)["orderStatus"] == "EXPIRED"
    assert status(dhan, traded_id)["orderStatus"] == "TRADED"
    await ws.close()


async def test_remarks_appear_twice_and_status_case_follows_dhanhq(sim):
    ws = await logged_in(sim)
    dhan = sdk(sim)
    open_id = order_id_of(place(dhan, order_type="LIMIT", price=far_from_ltp(sim, 0.5)))
    texts = await alerts_until(ws, "PENDING")
    dhan.cancel_order(open_id)
    texts += await alerts_until(ws, "CANCELLED")
    raw = texts[-1]
    assert raw.count('"Remarks":') == 2
    pairs = json.loads(raw, object_pairs_hook=lambda p: p)
    data = dict(pairs)["Data"]
    assert [v for k, v in data if k == "Remarks"] == ["NR", "Cancelled by user"]
    assert json.loads(raw)["Data"]["Status"] == "Cancelled"
    assert [json.loads(t)["Data"]["Status"] for t in texts] == ["TRANSIT", "PENDING", "Cancelled"]
    sent = lambda: (DEMO_CLIENT_ID, raw) in sim.order_alerts_sent  # noqa: E731
    await asyncio.to_thread(wait_until, sent, timeout=5, what="the alert in the log")
    assert [text for _, text in sim.order_alerts_sent] == texts
    await ws.close()


async def test_order_sockets_can_be_dropped_and_kept_down(sim):
    ws = await logged_in(sim)
    sim.order_sockets_down(20)
    with pytest.raises(ConnectionClosed):
        async with asyncio.timeout(5):
            await ws.recv()
    with pytest.raises(InvalidStatus) as refused:
        await connect(f"ws://127.0.0.1:{sim.port}/orderupdate", proxy=None)
    assert refused.value.response.status_code == 503
    sim.order_socket.down_until = 0.0  # back up early
    sim.refuse_order_sockets = True
    with pytest.raises(InvalidStatus):
        await connect(f"ws://127.0.0.1:{sim.port}/orderupdate", proxy=None)
    sim.refuse_order_sockets = False
    again = await logged_in(sim)
    sim.drop_order_sockets()
    with pytest.raises(ConnectionClosed):
        async with asyncio.timeout(5):
            await again.recv()
    assert sim.order_socket_logins == 2 and sim.order_socket.handshakes_refused == 2


async def test_an_expired_token_is_refused_everywhere_and_others_keep_working(sim):
    order_ws = await logged_in(sim, client_id=OTHER_CLIENT_ID, token=OTHER_TOKEN)
    feed = FeedConnection(
        FeedCredentials(f"ws://127.0.0.1:{sim.port}", OTHER_CLIENT_ID, OTHER_TOKEN),
        decoder=Decoder(),
    )
    await feed.connect()
    await asyncio.to_thread(wait_until, lambda: sim.connection_count == 1, what="feed")
    sim.expire_token(OTHER_CLIENT_ID)
    async with asyncio.timeout(5):
        error = json.loads(await order_ws.recv())
        with pytest.raises(FeedAuthError) as err:
            async for _ in feed.packets():
                pass
    assert error["Data"]["ErrorCode"] == "807" and err.value.reason == 807
    await feed.close()
    again = await login(sim, client_id=OTHER_CLIENT_ID, token=OTHER_TOKEN)
    assert json.loads(await again.recv())["Data"]["ErrorCode"] == "807"
    depth = await connect(
        f"ws://127.0.0.1:{sim.port}/twentydepth?token={OTHER_TOKEN}"
        f"&clientId={OTHER_CLIENT_ID}&authType=2",
        proxy=None,
    )
    assert decode_depth(await depth.recv(), decoder=Decoder()) == [DepthDisconnect(807)]
    expired = sdk(sim, OTHER_CLIENT_ID, OTHER_TOKEN)
    refused = await asyncio.to_thread(expired.get_order_list)
    assert refused["status"] == "failure" and refused["remarks"]["error_code"] == "DH-901"
    fine = await asyncio.to_thread(lambda: sdk(sim).get_order_list())
    assert fine["status"] == "success"
    sim.set_token(OTHER_CLIENT_ID, "renewed")
    renewed = await asyncio.to_thread(sdk(sim, OTHER_CLIENT_ID, "renewed").get_order_list)
    assert renewed["status"] == "success"


def test_prices_of_instruments_with_open_orders_move_without_subscribers(sim):
    dhan = sdk(sim)
    order_id = order_id_of(place(dhan, order_type="LIMIT", price=far_from_ltp(sim, 0.5)))
    assert sim.connection_count == 0 and RELIANCE not in sim.subscribed_keys()
    first = sim.prices.snapshot(RELIANCE)["volume"]
    wait_until(lambda: sim.prices.snapshot(RELIANCE)["volume"] > first, timeout=3, what="a tick")
    dhan.cancel_order(order_id)
    time.sleep(0.2)  # a tick in flight when the order closed
    still = sim.prices.snapshot(RELIANCE)["volume"]
    time.sleep(0.3)
    assert sim.prices.snapshot(RELIANCE)["volume"] == still  # nothing open: no more ticks


def test_order_requests_have_their_own_limit_per_client_id(sim):
    sim.config.order_requests_per_second = 10  # the default
    dhan, other = sdk(sim), sdk(sim, OTHER_CLIENT_ID, OTHER_TOKEN)
    answers = [dhan.get_order_list()["status"] for _ in range(11)]
    assert answers[:10] == ["success"] * 10
    assert answers[10] == "failure" and sim.rest.order_rejections >= 1
    assert other.get_order_list()["status"] == "success"
    assert dhan.ticker_data({"NSE_EQ": [2885]})["status"] == "success"  # not the quote's


def test_config_accounts_keep_the_client_id_pair_first():
    config = SimulatorConfig(access_token="fresh", accounts={DEMO_CLIENT_ID: "stale"})
    assert config.auth_refusal(DEMO_CLIENT_ID, "fresh") is None
    assert config.auth_refusal(DEMO_CLIENT_ID, "stale") == 809
    assert config.auth_refusal("42", "fresh") == 808
    other = SimulatorConfig(client_id="2000000001", access_token="t")
    assert other.account_tokens() == {DEMO_CLIENT_ID: DEMO_ACCESS_TOKEN, "2000000001": "t"}
    other.expired.add(("2000000001", "t"))
    assert other.auth_refusal("2000000001", "t") == 807
