import pytest
from django.core.management import CommandError, call_command

from screeners.models import ScreenerResult, ScreenerRun

pytestmark = pytest.mark.django_db


def test_sample_screeners_load_ranked_rows_idempotently():
    call_command("load_instruments")
    call_command("load_screeners")
    call_command("load_screeners")
    assert ScreenerRun.objects.filter(screener_type="swing").count() == 1
    swing = ScreenerRun.objects.get(screener_type="swing")
    ranks = list(swing.results.values_list("rank", flat=True))
    assert ranks == list(range(1, len(ranks) + 1)) and len(ranks) == 20
    assert ScreenerResult.objects.filter(run__screener_type="longterm").count() == 30
    assert swing.results.filter(instrument__security_id=2885).exists()


def test_sample_screeners_need_instruments_first():
    with pytest.raises(CommandError, match="load_instruments"):
        call_command("load_screeners")
