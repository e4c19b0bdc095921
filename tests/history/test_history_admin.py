"""The history admin: the instrument list's "Backfill history" action queues the backfill
task for the selected instruments (Celery runs it inline here, as in embedded mode), and
the bar store is shown read-only."""

from __future__ import annotations

from datetime import date

import pytest
from django.urls import reverse

from history import store
from history.models import Bar as BarRow
from history.timeframes import day_start
from prices.models import Instrument
from tests.support.historystub import make_instruments

pytestmark = pytest.mark.django_db


def test_the_backfill_action_fetches_the_selected_instruments_history(admin_client, stub):
    make_instruments("default", 2885, 1333, 11536)
    chosen = Instrument.objects.filter(security_id__in=[2885, 1333])

    page = admin_client.post(
        reverse("admin:prices_instrument_changelist"),
        {"action": "backfill_history", "_selected_action": [i.pk for i in chosen]},
        follow=True,
    )

    assert "Queued a history backfill of 2 instruments" in page.content.decode()
    assert {c.key for c in stub.chart_calls()} == {"NSE_EQ:2885", "NSE_EQ:1333"}
    assert {c.path.rsplit("/", 1)[1] for c in stub.chart_calls()} == {"historical", "intraday"}
    assert len(store.read("NSE_EQ:2885", "1d")) >= 250 and store.read("NSE_EQ:1333", "1m")
    assert store.read("NSE_EQ:11536", "1d") == []


def test_bars_are_shown_but_cannot_be_added_changed_or_deleted(admin_client):
    row = BarRow.objects.create(
        key="NSE_EQ:2885",
        timeframe="1d",
        start=day_start(date(2026, 12, 1)),
        open="2845.05",
        high="2850",
        low="2840",
        close="2848.9",
        volume=1000,
    )

    listed = admin_client.get(reverse("admin:history_bar_changelist"))
    shown = admin_client.get(reverse("admin:history_bar_change", args=[row.pk]))

    assert listed.status_code == 200 and "2845.05" in listed.content.decode()
    assert "2026-12-01 00:00" in listed.content.decode()  # the start in IST
    assert shown.status_code == 200 and b'name="close"' not in shown.content  # read-only
    assert admin_client.get(reverse("admin:history_bar_add")).status_code == 403
    assert admin_client.post(reverse("admin:history_bar_delete", args=[row.pk])).status_code == 403
