"""The Data API client (`dhan.history`) against the throttling history stub, through the
official SDK: exact bars, DhanHQ's exclusive `toDate`, the rate limit kept and a DH-904
retried, DH-905 as no bars, and refusals as plain errors that name no token."""

from __future__ import annotations

import logging
from datetime import date

import pytest

from dhan.history import (
    DATA_API_SPACING_SECONDS,
    ChartInstrument,
    DataApiBusy,
    DataApiError,
    DataApiRefused,
    HistoryClient,
)
from dhan.segments import InstrumentKey
from tests.support.historystub import (
    ACCESS_TOKEN,
    CLIENT_ID,
    HistoryStub,
    MemoryGate,
    busiest_second,
    daily_bars,
    fetch_concurrently,
)

RELIANCE = ChartInstrument(InstrumentKey.parse("NSE_EQ:2885"), "EQUITY", 0.05)
MONDAY, FRIDAY = date(2026, 11, 23), date(2026, 11, 27)


@pytest.fixture
def stub():
    server = HistoryStub(session_minutes=30).start()
    yield server
    server.stop()


def client_of(stub: HistoryStub, *, token: str = ACCESS_TOKEN, **options) -> HistoryClient:
    gate = MemoryGate(DATA_API_SPACING_SECONDS)
    client = HistoryClient(
        base_url=stub.url, client_id=CLIENT_ID, access_token=token, gate=gate, **options
    )
    return client


def test_daily_bars_are_exact_and_the_last_day_is_fetched_with_an_exclusive_to_date(stub):
    bars = client_of(stub).daily(RELIANCE, first=MONDAY, last=FRIDAY)

    assert [tuple(b) for b in bars] == daily_bars("NSE_EQ:2885", MONDAY, FRIDAY)
    assert len(bars) == 5 and bars[-1].t == daily_bars("NSE_EQ:2885", FRIDAY, FRIDAY)[0][0]
    (call,) = stub.chart_calls()
    assert (call.first, call.to) == ("2026-11-23", "2026-11-28")  # toDate: the day after
    # Sent as float32 (2845.05 went out as 2845.050048828125): back on the grid exactly.
    assert all(repr(p) == repr(round(p, 2)) for b in bars for p in (b.o, b.h, b.l, b.c))


def test_minutes_of_two_days_come_back_whole(stub):
    bars = client_of(stub).minutes(RELIANCE, first=MONDAY, last=MONDAY.replace(day=24))

    want = stub.minute_bars("NSE_EQ:2885", MONDAY) + stub.minute_bars(
        "NSE_EQ:2885", date(2026, 11, 24)
    )
    assert [tuple(b) for b in bars] == want
    assert stub.chart_calls()[0].to == "2026-11-25"


def test_a_dh904_is_backed_off_for_retry_after_and_retried(stub):
    stub.refuse_next()
    client = client_of(stub)

    bars = client.daily(RELIANCE, first=MONDAY, last=FRIDAY)

    assert len(bars) == 5
    refused, served = stub.chart_calls()
    assert (refused.status, served.status) == (429, 200)
    assert served.at - refused.at >= 0.95  # the stub's Retry-After: 1
    assert (client.counts.calls, client.counts.rate_limited) == (2, 1)


def test_dh904_that_never_lets_up_gives_up_plainly(stub):
    stub.refuse_next(10)
    client = client_of(stub, rate_limit_retries=1)

    with pytest.raises(DataApiBusy, match="429"):
        client.daily(RELIANCE, first=MONDAY, last=FRIDAY)
    assert [c.status for c in stub.chart_calls()] == [429, 429]


def test_no_second_holds_more_than_five_calls_from_threads_sharing_the_gate(stub):
    gate = MemoryGate(DATA_API_SPACING_SECONDS)
    clients = [
        HistoryClient(base_url=stub.url, client_id=CLIENT_ID, access_token=ACCESS_TOKEN, gate=gate)
        for _ in range(3)
    ]

    def fetch(client: HistoryClient) -> None:
        for _ in range(8):
            client.daily(RELIANCE, first=MONDAY, last=FRIDAY)

    fetch_concurrently(clients, fetch)

    calls = stub.chart_calls()
    assert len(calls) == 24 and {c.status for c in calls} == {200}
    assert busiest_second([c.at for c in calls]) <= 5
    assert sum(c.counts.rate_limited for c in clients) == 0


def test_a_range_without_bars_answered_dh905_is_no_bars(stub):
    saturday, sunday = date(2026, 11, 28), date(2026, 11, 29)

    assert client_of(stub).daily(RELIANCE, first=saturday, last=sunday) == []
    assert [c.status for c in stub.chart_calls()] == [400]


def test_an_account_without_the_data_api_is_refused_plainly_naming_no_token(stub, caplog):
    stub.no_data_api = True
    caplog.set_level(logging.DEBUG)

    with pytest.raises(DataApiRefused) as refused:
        client_of(stub).daily(RELIANCE, first=MONDAY, last=FRIDAY)

    assert "DH-902" in str(refused.value) and "Data API" in str(refused.value)
    assert ACCESS_TOKEN not in str(refused.value) and ACCESS_TOKEN not in caplog.text
    assert len(stub.chart_calls()) == 1  # a refusal is not retried


def test_a_wrong_token_is_refused_and_not_shown(stub):
    client = client_of(stub, token="wrong-secret-token")

    with pytest.raises(DataApiRefused, match="DH-901") as refused:
        client.minutes(RELIANCE, first=MONDAY, last=MONDAY)
    assert "wrong-secret-token" not in str(refused.value) + repr(client)


def test_an_intraday_range_over_90_days_is_refused_before_any_call(stub):
    with pytest.raises(ValueError, match="90 days"):
        client_of(stub).minutes(RELIANCE, first=date(2026, 1, 1), last=date(2026, 4, 1))
    assert stub.chart_calls() == []


def test_an_endpoint_that_is_not_there_is_an_error_not_an_empty_range(stub):
    client = HistoryClient(
        base_url=stub.url.removesuffix("/v2") + "/elsewhere",
        client_id=CLIENT_ID,
        access_token=ACCESS_TOKEN,
        gate=MemoryGate(DATA_API_SPACING_SECONDS),
    )

    with pytest.raises(DataApiError, match="404"):
        client.daily(RELIANCE, first=MONDAY, last=FRIDAY)


def test_no_answer_at_all_is_an_error(stub):
    url = stub.url
    stub.stop()

    with pytest.raises(DataApiError, match="no answer"):
        HistoryClient(
            base_url=url,
            client_id=CLIENT_ID,
            access_token=ACCESS_TOKEN,
            gate=MemoryGate(DATA_API_SPACING_SECONDS),
        ).daily(RELIANCE, first=MONDAY, last=FRIDAY)


def test_a_derivative_sends_expiry_code_and_keeps_open_interest(stub):
    future = ChartInstrument(InstrumentKey.parse("NSE_FNO:52175"), "FUTSTK", 0.05)
    client = client_of(stub)

    days = client.daily(future, first=MONDAY, last=FRIDAY)
    minutes = client.minutes(future, first=MONDAY, last=MONDAY)

    assert [b.oi for b in days] == [b[6] for b in daily_bars("NSE_FNO:52175", MONDAY, FRIDAY)]
    daily_call, minute_call = stub.chart_calls()
    assert daily_call.body["oi"] is True and minute_call.body["expiryCode"] == 0
    assert len(minutes) == 30 and all(b.oi == 0 for b in minutes)


def test_an_instrument_type_dhanhq_keeps_no_history_of_is_refused_before_any_call(stub):
    odd = ChartInstrument(InstrumentKey.parse("NSE_EQ:1"), "WARRANT", 0.05)

    with pytest.raises(DataApiError, match="WARRANT"):
        client_of(stub).daily(odd, first=MONDAY, last=FRIDAY)
    assert stub.chart_calls() == []
