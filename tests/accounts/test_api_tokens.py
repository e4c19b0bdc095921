"""API tokens live in `accounts`: made by `create_api_token` (only a digest stored), checked
by the JSON API, and those made while they lived in `alerts` still valid after the move."""

from __future__ import annotations

import hashlib

import pytest
from django.contrib import admin
from django.contrib.auth.models import User
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client

from accounts.models import ApiToken, user_for_token

BEFORE_THE_MOVE = [("alerts", "0003_attempts_help_text"), ("accounts", "0001_initial")]
AFTER_THE_MOVE = [("alerts", "0004_move_apitoken_to_accounts"), ("accounts", "0002_apitoken")]
OLD_KEY = "made-before-the-move-" + "k" * 22


def migrate(targets: list[tuple[str, str]]) -> MigrationExecutor:
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    executor.loader.build_graph()  # what is applied now
    return executor


@pytest.mark.django_db(transaction=True)
def test_a_token_made_before_the_move_to_accounts_still_authenticates_after_it():
    content_type = ContentType.objects.get_for_model(ApiToken).pk
    try:
        old = migrate(BEFORE_THE_MOVE).loader.project_state(BEFORE_THE_MOVE).apps
        assert "alerts_apitoken" in connection.introspection.table_names()
        owner = old.get_model("auth", "User").objects.create(username="scripter", is_active=True)
        old.get_model("alerts", "ApiToken").objects.create(
            user_id=owner.pk, digest=hashlib.sha256(OLD_KEY.encode()).hexdigest()
        )
    finally:
        migrate(AFTER_THE_MOVE)
    ContentType.objects.clear_cache()
    tables = connection.introspection.table_names()
    assert "accounts_apitoken" in tables and "alerts_apitoken" not in tables
    user = user_for_token(OLD_KEY)
    assert user is not None and user.username == "scripter"
    token = ApiToken.objects.get()
    assert token.last_used_at is not None and token.user_id == owner.pk
    # The content type moved with it (permissions granted on tokens kept), not a new one.
    assert ContentType.objects.get_for_model(ApiToken).pk == content_type
    response = Client().get("/api/v1/alerts", HTTP_AUTHORIZATION=f"Token {OLD_KEY}")
    assert response.status_code == 200


@pytest.mark.django_db
def test_create_api_token_prints_a_key_whose_digest_only_is_stored(capsys):
    alice = User.objects.create_user("alice", password="pw")
    call_command("create_api_token", "--user", "alice")
    key = capsys.readouterr().out.strip()
    stored = ApiToken.objects.get(user=alice)
    assert stored.digest == hashlib.sha256(key.encode()).hexdigest() != key
    assert user_for_token(key) == alice
    assert user_for_token(key + "x") is None


@pytest.mark.django_db
def test_an_inactive_users_token_is_refused():
    bob = User.objects.create_user("bob", password="pw", is_active=False)
    assert user_for_token(ApiToken.issue(bob)) is None


def test_the_admin_shows_api_tokens_under_accounts_read_only():
    model_admin = admin.site._registry[ApiToken]
    assert ApiToken._meta.app_label == "accounts"
    assert set(model_admin.readonly_fields) >= {"user", "digest"}
