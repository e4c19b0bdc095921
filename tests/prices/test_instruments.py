"""Loading DhanHQ's scrip master: the real file, the sample, bad rows, all-or-nothing."""

from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from prices import instruments
from prices.instruments import SAMPLE_SCRIP_MASTER, ScripMasterError, load_scrip_master
from prices.models import Instrument
from tests.support.instruments import full_scrip_master

pytestmark = pytest.mark.django_db
HEADER = (
    "SEM_EXM_EXCH_ID,SEM_SEGMENT,SEM_SMST_SECURITY_ID,SEM_INSTRUMENT_NAME,SEM_EXPIRY_CODE,"
    "SEM_TRADING_SYMBOL,SEM_LOT_UNITS,SEM_CUSTOM_SYMBOL,SEM_EXPIRY_DATE,SEM_STRIKE_PRICE,"
    "SEM_OPTION_TYPE,SEM_TICK_SIZE,SEM_EXPIRY_FLAG,SEM_EXCH_INSTRUMENT_TYPE,SEM_SERIES,"
    "SM_SYMBOL_NAME\n"
)


def tick(key: str) -> Decimal:
    seg, sid = key.split(":")
    return Instrument.objects.get(exchange_segment=seg, security_id=int(sid)).tick_size


def test_loads_the_whole_real_scrip_master_with_tick_sizes_in_rupees(capsys):
    call_command("load_instruments", str(full_scrip_master()))
    out, err = capsys.readouterr()
    # 23,116 rows; one has a tick size of 0 and is reported with its line number.
    assert Instrument.objects.count() == 23_115
    assert "loaded 23115 instruments (23115 new), skipped 1 bad rows" in out
    assert err.startswith("line 23117: skipped: bad tick size") and "got '0'" in err
    assert tick("NSE_EQ:2885") == Decimal("0.10")  # RELIANCE: 10 paise
    assert tick("NSE_EQ:2277") == Decimal("5.00")  # MRF: 500 paise
    assert tick("NSE_EQ:1333") == Decimal("0.05")
    assert tick("IDX_I:13") == Decimal("0.05") and tick("IDX_I:51") == Decimal("0.01")
    nifty = Instrument.objects.get(exchange_segment="IDX_I", security_id=13)
    assert (nifty.trading_symbol, nifty.instrument_type) == ("NIFTY", "INDEX")
    call_command("load_instruments", str(full_scrip_master()))  # idempotent
    assert "(0 new)" in capsys.readouterr().out
    assert Instrument.objects.count() == 23_115


def test_the_default_is_the_whole_bundled_scrip_master_with_2428_nse_eq_stocks(capsys):
    call_command("load_instruments")
    assert "loaded 23115 instruments" in capsys.readouterr().out
    eq = Instrument.objects.filter(exchange_segment="NSE_EQ", series="EQ")
    assert eq.count() == 2_428


def test_bundled_sample_has_nifty_50_and_main_indices():
    call_command("load_instruments", str(SAMPLE_SCRIP_MASTER))
    keys = set(Instrument.objects.values_list("exchange_segment", "security_id"))
    assert {
        ("IDX_I", 13),
        ("IDX_I", 25),
        ("IDX_I", 51),
        ("NSE_EQ", 2885),
        ("NSE_EQ", 11536),
        ("NSE_EQ", 1333),
    } <= keys
    assert Instrument.objects.filter(exchange_segment="NSE_EQ").count() >= 50


def test_bad_rows_are_reported_by_line_and_skipped(tmp_path):
    path = tmp_path / "master.csv"
    path.write_text(
        HEADER
        + "NSE,E,2885,EQUITY,0,RELIANCE,1,Reliance,,,,10,NA,ES,EQ,RELIANCE IND\n"
        + "NSE,E,abc,EQUITY,0,BAD,1,Bad,,,,10,NA,ES,EQ,BAD\n"
        + "NSE,E,1333,EQUITY,0,HDFCBANK,1\n"
        + "XXX,Q,5,EQUITY,0,ODD,1,Odd,,,,10,NA,ES,EQ,ODD\n"
        + "NSE,E,2885,EQUITY,0,RELIANCE,1,Reliance,,,,10,NA,ES,EQ,RELIANCE IND\n"
        + "NSE,E,11536,EQUITY,0,TCS,1,TCS,,,,-5,NA,ES,EQ,TCS\n"
    )
    report = load_scrip_master(path)
    assert report.loaded == 1
    assert [(s.line, s.reason.split(" ")[0]) for s in report.skipped] == [
        (3, "bad"),
        (4, "wrong"),
        (5, "unknown"),
        (6, "duplicate"),
        (7, "bad"),
    ]


def test_a_file_that_is_not_a_scrip_master_changes_nothing(tmp_path):
    path = tmp_path / "other.csv"
    path.write_text("a,b,c\n1,2,3\n")
    with pytest.raises(ScripMasterError, match="missing columns"):
        load_scrip_master(path)
    with pytest.raises(CommandError, match="cannot read"):
        call_command("load_instruments", str(tmp_path / "absent.csv"))
    assert Instrument.objects.count() == 0


def test_a_failure_mid_load_leaves_nothing_half_written(monkeypatch):
    monkeypatch.setattr(instruments, "UPSERT_BATCH_ROWS", 10)
    calls = {"n": 0}
    real = Instrument.objects.bulk_create

    def failing_bulk_create(objs, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("database went away")
        return real(objs, **kwargs)

    monkeypatch.setattr(Instrument.objects, "bulk_create", failing_bulk_create)
    with pytest.raises(RuntimeError):
        load_scrip_master(instruments.SAMPLE_SCRIP_MASTER)
    assert Instrument.objects.count() == 0
