"""The Stream model's move from the project package to the `streams` app keeps every row:
a database migrated as it was before the move (marketstream 0003), holding streams, is
migrated forward and read through `streams.models.Stream`, its table, ids and values
untouched; the model's content type (and so the permissions granted on it) moves along."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from streams.models import Stream

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE_THE_MOVE = [("marketstream", "0003_stream_state_handed_over"), ("streams", None)]


def migrate(targets: list[tuple[str, str | None]] | None = None):
    """Migrate the test database to `targets` (None: every app's latest); the apps as they
    were then (every other app at its latest)."""
    executor = MigrationExecutor(connection)
    leaves = executor.loader.graph.leaf_nodes()
    executor.migrate(targets or leaves)
    named = {app for app, _ in targets or ()}
    nodes = [n for n in leaves if n[0] not in named]
    nodes += [(app, name) for app, name in targets or () if name is not None]
    return MigrationExecutor(connection).loader.project_state(nodes).apps


@pytest.fixture
def before_the_move() -> Iterator:
    """The database as the last release left it; migrated forward again whatever happens."""
    try:
        yield migrate(BEFORE_THE_MOVE)
    finally:
        migrate()
        ContentType.objects.clear_cache()


def test_streams_written_before_the_move_are_read_through_the_streams_app(before_the_move):
    old_stream = before_the_move.get_model("marketstream", "Stream")
    swing = old_stream.objects.create(
        key="type:swing",
        kind="market_feed",
        screener_type="swing",
        instruments=["NSE_EQ:2885", "NSE_EQ:11536"],
        mode="full",
        desired_state="running",
        state="handed_over",
        ticks_received=123_456,
        malformed_frames=7,
        generation=3,
        stopped_reason="worker shutdown: handed over",
    )
    depth = old_stream.objects.create(key="depth20", kind="depth20", mode="depth")
    old_types = before_the_move.get_model("contenttypes", "ContentType")
    old_type = old_types.objects.get_or_create(app_label="marketstream", model="stream")[0]
    old_permission = before_the_move.get_model("auth", "Permission")
    change = old_permission.objects.get_or_create(
        content_type=old_type, codename="change_stream", defaults={"name": "Can change stream"}
    )[0]

    migrate()
    ContentType.objects.clear_cache()

    assert Stream._meta.db_table == "marketstream_stream"
    rows = {s.key: s for s in Stream.objects.all()}
    assert set(rows) == {"type:swing", "depth20"}
    moved = rows["type:swing"]
    assert moved.pk == swing.pk and rows["depth20"].pk == depth.pk
    assert moved.instruments == ["NSE_EQ:2885", "NSE_EQ:11536"] and moved.instrument_count == 2
    assert (moved.mode, moved.state, moved.desired_state) == ("full", "handed_over", "running")
    assert (moved.ticks_received, moved.malformed_frames, moved.generation) == (123_456, 7, 3)
    assert moved.stopped_reason == "worker shutdown: handed over"
    # The content type moved (same id), so a permission granted before still applies.
    assert ContentType.objects.get_for_model(Stream).pk == old_type.pk
    assert not ContentType.objects.filter(app_label="marketstream", model="stream").exists()
    staff = Group.objects.create(name="operators")
    staff.permissions.add(Permission.objects.get(pk=change.pk))
    assert staff.permissions.get().content_type.app_label == "streams"
