"""manage.py demo_user (accounts/management/commands/demo_user.py): the demo's `demo` user
(its account's order socket wanted) and `admin` user, and its refusal to make either
outside development."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo_settings(settings):
    settings.DHANHQ_CLIENT_ID = "1000000001"
    settings.DHANHQ_ACCESS_TOKEN = "demo-token"
    settings.DEBUG = False
    settings.DEV_MODE = True
    return settings


def test_the_demo_gets_a_staff_superuser_admin_with_the_published_password(demo_settings):
    call_command("demo_user")
    admin = get_user_model().objects.get(username="admin")
    assert admin.is_staff and admin.is_superuser and admin.check_password("admin")
    demo = get_user_model().objects.get(username="demo")
    assert not demo.is_staff and demo.check_password("demo")


def test_the_demo_accounts_order_socket_is_wanted(
    demo_settings, django_capture_on_commit_callbacks
):
    from accounts.models import BrokerAccount
    from streams.keys import order_stream_key
    from streams.models import Stream

    with django_capture_on_commit_callbacks(execute=True):  # asked for once the save commits
        call_command("demo_user")
    account = BrokerAccount.objects.get(user__username="demo")
    stream = Stream.objects.get(key=order_stream_key(account.pk))
    assert stream.desired_state == Stream.Desired.RUNNING  # started by supervision, in hours


def test_a_second_run_leaves_the_users_and_their_passwords_as_they_are(demo_settings):
    call_command("demo_user")
    admin = get_user_model().objects.get(username="admin")
    admin.set_password("changed-by-the-operator")
    admin.save()
    call_command("demo_user")
    assert get_user_model().objects.filter(username__in=["admin", "demo"]).count() == 2
    assert get_user_model().objects.get(username="admin").check_password("changed-by-the-operator")


def test_it_refuses_without_dev_mode_or_debug_and_makes_no_user(demo_settings):
    demo_settings.DEV_MODE = False
    with pytest.raises(CommandError, match="DEV_MODE or DEBUG"):
        call_command("demo_user")
    assert not get_user_model().objects.exists()
