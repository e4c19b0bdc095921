import pytest
from django.core.management import call_command

from prices.instruments import SAMPLE_SCRIP_MASTER
from prices.models import Instrument
from streams.keys import (
    StreamKeyError,
    StreamSpec,
    build_stream_key,
    parse_stream_key,
    resolve_instruments,
)
from tests.support.screens import record_runs


def test_keys_are_canonical_and_round_trip():
    key = build_stream_key(screener_type="swing", ids=[3, 1, 2, 1], symbols=["tcs", "RELIANCE"])
    assert key == "type:swing|ids:1,2,3|symbols:RELIANCE,TCS"
    assert parse_stream_key(key) == StreamSpec("swing", (1, 2, 3), ("RELIANCE", "TCS"))
    with_keys = build_stream_key(screener_type="longterm", keys=["NSE_EQ:2885", "IDX_I:13"])
    assert with_keys == "type:longterm|keys:IDX_I:13,NSE_EQ:2885"
    assert parse_stream_key(with_keys).keys == ("IDX_I:13", "NSE_EQ:2885")


@pytest.mark.parametrize(
    "bad",
    [
        "type:intraday",
        "ids:1",
        "type:swing|ids:x",
        "type:swing|ids:2,1",
        "type:swing|foo:1",
        "type:swing|keys:NSE_XX:1",
        "",
    ],
)
@pytest.mark.django_db  # a type no screen has: the screens are asked
def test_bad_keys_are_refused(bad):
    with pytest.raises(StreamKeyError):
        parse_stream_key(bad)


@pytest.mark.django_db
def test_resolve_names_every_unknown_instrument():
    call_command("load_instruments", str(SAMPLE_SCRIP_MASTER))
    record_runs()
    reliance = Instrument.objects.get(exchange_segment="NSE_EQ", security_id=2885)
    spec = parse_stream_key(
        build_stream_key(
            screener_type="swing", ids=[reliance.pk], symbols=["TCS"], keys=["IDX_I:13"]
        )
    )
    assert {i.key for i in resolve_instruments(spec)} == {"NSE_EQ:2885", "NSE_EQ:11536", "IDX_I:13"}
    assert len(resolve_instruments(StreamSpec("swing"))) == 20
    with pytest.raises(StreamKeyError, match="unknown symbols: \\['NOPE'\\]"):
        resolve_instruments(StreamSpec("swing", symbols=("NOPE",)))
    with pytest.raises(StreamKeyError, match="unknown instrument ids: \\[999999\\]"):
        resolve_instruments(StreamSpec("swing", ids=(999999,)))
    with pytest.raises(StreamKeyError, match="NSE_EQ:1"):
        resolve_instruments(StreamSpec("swing", keys=("NSE_EQ:1",)))
