"""Login throttling (django-axes, `accounts/throttling.py` for the address): too many failed
sign-ins for one username, or from one address, lock sign-in on `/accounts/login/` and
`/admin/login/` with a page that says so (429), the right password included; an admin
unlocks by deleting the access attempts. Two web processes: test_throttling_e2e.py."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client

pytestmark = pytest.mark.django_db(transaction=True)

LOCKED_TEXT = "Too many failed sign-ins"


@pytest.fixture
def alice():
    return User.objects.create_user("alice", password="pw-alice")


def sign_in(
    username: str, password: str, *, address: str = "10.0.0.1", path: str = "/accounts/login/"
):
    """One sign-in POST from `address` (a fresh client: no session carried over)."""
    return Client(REMOTE_ADDR=address).post(path, {"username": username, "password": password})


def signed_in(response) -> bool:
    return response.status_code == 302 and "sessionid" in response.cookies


def test_wrong_passwords_lock_that_username_even_from_new_addresses(alice):
    limit = settings.AXES_FAILURE_LIMIT
    answers = [
        sign_in("alice", f"guess-{i}", address=f"10.0.1.{i}").status_code for i in range(limit + 1)
    ]
    assert answers == [200] * (limit - 1) + [429, 429]
    locked = sign_in("alice", "pw-alice", address="10.0.9.9")  # the right one, a new address
    assert locked.status_code == 429 and not signed_in(locked)
    page = locked.content.decode()
    assert LOCKED_TEXT in page and f"Try again in {settings.LOGIN_LOCKOUT_MINUTES} minutes" in page
    assert "ask an administrator" in page
    User.objects.create_user("bob", password="pw-bob")
    assert signed_in(sign_in("bob", "pw-bob", address="10.0.9.9"))  # only alice is locked


def test_one_address_trying_many_usernames_is_locked(alice):
    limit = settings.AXES_FAILURE_LIMIT
    answers = [sign_in(f"user{i}", "guess", address="10.0.2.1").status_code for i in range(limit)]
    assert answers == [200] * (limit - 1) + [429]
    locked = sign_in("alice", "pw-alice", address="10.0.2.1")
    assert locked.status_code == 429 and LOCKED_TEXT in locked.content.decode()
    assert signed_in(sign_in("alice", "pw-alice", address="10.0.2.2"))  # another address


def test_the_address_is_the_one_the_api_limits_use_behind_a_proxy(alice, settings):
    settings.RATELIMIT_IP_META_KEY = "HTTP_X_REAL_IP"
    proxy = Client(REMOTE_ADDR="10.0.0.254")  # every request arrives from the proxy
    for i in range(settings.AXES_FAILURE_LIMIT):
        proxy.post(
            "/accounts/login/", {"username": f"u{i}", "password": "x"}, HTTP_X_REAL_IP="203.0.113.7"
        )
    again = {"username": "alice", "password": "pw-alice"}
    assert proxy.post("/accounts/login/", again, HTTP_X_REAL_IP="203.0.113.7").status_code == 429
    assert proxy.post("/accounts/login/", again, HTTP_X_REAL_IP="203.0.113.8").status_code == 302


def test_the_admin_login_is_throttled_too():
    User.objects.create_superuser("root", "root@example.com", "pw-root")
    limit = settings.AXES_FAILURE_LIMIT
    answers = [
        sign_in("root", f"guess-{i}", path="/admin/login/", address=f"10.0.3.{i}").status_code
        for i in range(limit + 1)
    ]
    assert answers == [200] * (limit - 1) + [429, 429]
    locked = sign_in("root", "pw-root", path="/admin/login/", address="10.0.3.99")
    assert locked.status_code == 429 and LOCKED_TEXT in locked.content.decode()
    # one count for both doors: the site's login page is locked for root as well
    assert sign_in("root", "pw-root", address="10.0.3.98").status_code == 429


def test_an_admin_deleting_the_access_attempts_unlocks(alice):
    for i in range(settings.AXES_FAILURE_LIMIT):
        sign_in("alice", f"guess-{i}", address=f"10.0.4.{i}")
    assert sign_in("alice", "pw-alice").status_code == 429
    admin = Client()
    admin.force_login(User.objects.create_superuser("root", "root@example.com", "pw-root"))
    index = admin.get("/admin/").content.decode()
    for section in ("Access attempts", "Access failures", "Access logs"):
        assert section in index
    listing = admin.get("/admin/axes/accessattempt/?q=alice").content.decode()
    assert "alice" in listing and "Locked Out" in listing
    from axes.models import AccessAttempt

    ids = [
        str(pk)
        for pk in AccessAttempt.objects.filter(username="alice").values_list("pk", flat=True)
    ]
    assert ids
    done = admin.post(
        "/admin/axes/accessattempt/",
        {"action": "delete_selected", "_selected_action": ids, "post": "yes"},
    )
    assert done.status_code == 302
    assert not AccessAttempt.objects.filter(username="alice").exists()
    assert signed_in(sign_in("alice", "pw-alice"))


def test_a_sign_in_that_works_does_not_wipe_the_addresss_failures_for_others(alice, settings):
    """With AXES_RESET_ON_SUCCESS on, a user of the site could try four passwords of
    another's, sign in as themselves (which deletes every attempt from their address),
    and go on for ever: settings keep it off."""
    User.objects.create_user("mallory", password="pw-mallory")
    limit = settings.AXES_FAILURE_LIMIT
    for round_ in range(2):
        for i in range(limit - 1):
            sign_in("alice", f"guess-{round_}-{i}", address="10.0.5.1")
        sign_in("mallory", "pw-mallory", address="10.0.5.1")  # the same address
    assert sign_in("alice", "pw-alice", address="10.0.5.3").status_code == 429


def test_the_lockout_page_satisfies_the_csp(alice):
    import re

    for i in range(settings.AXES_FAILURE_LIMIT):
        sign_in("alice", f"guess-{i}")
    html = sign_in("alice", "pw-alice").content.decode()
    assert LOCKED_TEXT in html
    assert not re.search(r"<script\b(?![^>]*\bsrc=)[^>]*>", html)
    assert not re.search(r"<style\b|\sstyle=|\son[a-z]+=", html)
