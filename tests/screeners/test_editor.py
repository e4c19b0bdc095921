"""The screen editor's pages (screeners/editor.py) through Django's test client: who may
open them, what they are filled with, and markup the pages' CSP allows (no inline script,
style or handler)."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from cryptography.fernet import Fernet

from screeners.catalog import install_shipped
from screeners.models import Screen
from screeners.shipped import PRESETS

pytestmark = pytest.mark.django_db

SECRET = "hook-secret-0123"


@pytest.fixture(autouse=True)
def embedded(settings):
    settings.REDIS_URL = ""
    settings.MARKETSTREAM_ENCRYPTION_KEY = Fernet.generate_key().decode()  # webhook secrets


@pytest.fixture
def alice(django_user_model):
    return django_user_model.objects.create_user("alice", password="pw-alice")


@pytest.fixture
def bob(django_user_model):
    return django_user_model.objects.create_user("bob", password="pw-bob")


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user("sam", password="pw-sam", is_staff=True)


def own_screen(owner, **fields) -> Screen:
    screen = Screen(
        slug=fields.pop("slug", "alices-dip"),
        name=fields.pop("name", "Alice's dip"),
        owner=owner,
        universe="keys:NSE_EQ:2885,NSE_EQ:11536",
        timeframe="1w",
        condition="rsi(close, 14) < 30",
        columns={"rsi_14": "rsi(close, 14)", "items": "close"},
        rank_by="rsi(close, 14)",
        descending=False,
        limit=25,
        schedule="every_15_minutes",
        **fields,
    )
    screen.save()
    return screen


class Markup(HTMLParser):
    """Tags as parsed: scripts with their bodies, attributes inline code would use, the
    values of the inputs and textareas by id, and the selected options by select id."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.scripts: list[tuple[dict, str]] = []
        self.inline: list[str] = []
        self.values: dict[str, str] = {}
        self.checked: set[str] = set()
        self.selected: dict[str, str] = {}
        self._open: tuple[str, dict] | None = None
        self._select = ""
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list) -> None:
        found = dict(attrs)
        self.inline += [f"{tag} {n}" for n, _ in attrs if n == "style" or n.startswith("on")]
        if tag in ("script", "textarea", "style"):
            self._open = (tag, found)
            self.scripts += [(found, "")] if tag == "script" else []
        if tag == "textarea" and found.get("id"):
            self.values[found["id"]] = ""
        if tag == "select":
            self._select = found.get("id", "")
        if tag == "option" and "selected" in found:
            self.selected[self._select] = found.get("value", "")
        if tag == "input" and found.get("id"):
            self.values[found["id"]] = found.get("value") or ""
            if "checked" in found:
                self.checked.add(found["id"])

    def handle_data(self, data: str) -> None:
        if self._open and self._open[0] == "script":
            self.scripts[-1] = (self.scripts[-1][0], self.scripts[-1][1] + data)
        elif self._open and self._open[0] == "textarea":
            key = self._open[1].get("id", "")
            self.values[key] = self.values.get(key, "") + data
        elif self._open and self._open[0] == "style":
            self.inline.append(f"style element: {data[:40]}")

    def handle_endtag(self, tag: str) -> None:
        if self._open and self._open[0] == tag:
            self._open = None


def page(client, url: str) -> Markup:
    response = client.get(url)
    assert response.status_code == 200, response.status_code
    return Markup(response.content.decode())


def column_inputs(html: str) -> list[str]:
    """The column rows' name and expression values, in order (the template's row aside)."""
    rows = html.split('id="column-row-template"')[0]
    values = []
    for part in rows.split('class="js-column-')[1:]:
        values.append(part.split('value="', 1)[1].split('"', 1)[0])
    return values


@pytest.mark.parametrize("url", ["/screeners/new", "/screeners/swing/edit"])
def test_the_editor_sends_an_anonymous_visitor_to_sign_in(client, url):
    install_shipped()
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={url}"


def test_a_new_screen_starts_empty_with_the_contract_defaults(client, alice):
    client.force_login(alice)
    markup = page(client, "/screeners/new")
    assert markup.values["screen-name"] == ""
    assert markup.values["screen-condition"] == ""
    assert markup.values["screen-universe"] == "segment:NSE_EQ"
    assert markup.values["screen-limit"] == "100"
    assert markup.selected["screen-timeframe"] == "1d"
    assert markup.selected["screen-schedule"] == "manual"
    assert "screen-descending" in markup.checked
    assert "screen-notify" not in markup.checked


def test_a_preset_fills_the_editor_with_its_fields(client, alice):
    client.force_login(alice)
    response = client.get("/screeners/new?preset=golden-cross")
    markup = Markup(response.content.decode())
    preset = PRESETS["golden-cross"]
    assert markup.values["screen-name"] == "Golden cross"
    assert markup.values["screen-condition"] == preset["condition"]
    assert markup.values["screen-rank-by"] == preset["rank_by"]
    assert markup.selected["screen-preset"] == "golden-cross"
    pairs = [item for pair in preset["columns"].items() for item in pair]
    assert column_inputs(response.content.decode()) == pairs


def test_the_editor_offers_every_preset_and_its_own_api(client, alice):
    client.force_login(alice)
    response = client.get("/screeners/new?preset=no-such-preset")
    html = response.content.decode()
    assert all(f'<option value="{name}">' in html for name in PRESETS)  # none selected
    assert 'data-api="/api/v1/screens"' in html and 'data-pages="/screeners/"' in html
    assert 'name="csrfmiddlewaretoken"' in html  # what the script sends as X-CSRFToken


def test_the_owner_edits_their_screen_with_its_fields_and_never_its_secret(client, alice):
    screen = own_screen(alice, notify=True, notify_email=True)
    screen.webhook_url = "https://hooks.example.com/screens"
    screen.webhook_format = "chartink"
    screen.set_webhook_secret(SECRET)
    screen.save()
    client.force_login(alice)
    response = client.get("/screeners/alices-dip/edit")
    html = response.content.decode()
    markup = Markup(html)
    assert markup.values["screen-condition"] == "rsi(close, 14) < 30"
    assert markup.values["screen-universe"] == "keys:NSE_EQ:2885,NSE_EQ:11536"
    assert markup.values["screen-limit"] == "25"
    assert markup.selected["screen-timeframe"] == "1w"
    assert markup.selected["screen-schedule"] == "every_15_minutes"
    assert "screen-descending" not in markup.checked
    assert {"screen-notify", "screen-notify-email"} <= markup.checked
    assert markup.values["screen-webhook-url"] == "https://hooks.example.com/screens"
    assert markup.selected["screen-webhook-format"] == "chartink"
    assert markup.values["screen-webhook-secret"] == ""
    assert SECRET not in html and screen.webhook_secret_encrypted not in html
    assert "a secret is stored" in html
    # A column named `items` is a column like any other (not the dict's method).
    assert column_inputs(html) == ["rsi_14", "rsi(close, 14)", "items", "close"]
    assert f'data-screen-id="{screen.pk}"' in html


def test_another_users_screen_has_no_editor_for_them(client, alice, bob):
    own_screen(alice)
    client.force_login(bob)
    assert client.get("/screeners/alices-dip/edit").status_code == 404


def test_a_shared_screen_is_edited_by_staff_only(client, alice, staff):
    install_shipped()
    client.force_login(alice)
    assert client.get("/screeners/swing/edit").status_code == 404
    client.force_login(staff)
    markup = page(client, "/screeners/swing/edit")
    assert markup.values["screen-condition"] == Screen.objects.get(slug="swing").condition


def test_an_unknown_screen_has_no_editor(client, staff):
    client.force_login(staff)
    assert client.get("/screeners/no-such-screen/edit").status_code == 404


@pytest.mark.parametrize(
    "url", ["/screeners/new?preset=volume-spike", "/screeners/alices-dip/edit"]
)
def test_the_editor_carries_no_inline_script_style_or_handler(client, alice, url):
    own_screen(alice)
    client.force_login(alice)
    response = client.get(url)
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    markup = Markup(response.content.decode())
    sources = [attrs.get("src", "") for attrs, _ in markup.scripts]
    assert [body.strip() for _, body in markup.scripts] == [""] * len(sources)
    assert all(src.startswith("/static/") for src in sources)
    assert "/static/js/screen_editor.js" in sources
    assert markup.inline == []
