"""Sending a webhook: a signed JSON POST, called by the features' Celery tasks
(`alerts.tasks.deliver_webhook`) for each try. The URL is checked again first
(`webhooks.targets`), the connection goes to the address that check passed (so DNS cannot
answer differently in between), redirects are not followed, and the try's outcome is
coarse: delivered, refused by the receiver (with its HTTP status), unreachable, or blocked
by the check. Never an exception's name: that would make a port scanner of the owner's
event list."""

from __future__ import annotations

import hashlib
import hmac
import logging
from dataclasses import dataclass

import requests
from requests.adapters import HTTPAdapter
from requests_hardened import Config, HTTPSession

from webhooks.targets import (
    DEFAULT_PORTS,
    Resolver,
    Target,
    TargetRefused,
    TargetUnresolved,
    check_url,
    system_resolver,
)

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT_SECONDS = 5
READ_TIMEOUT_SECONDS = 10
SIGNATURE_HEADER = "X-MarketStream-Signature"
EVENT_HEADER = "X-MarketStream-Event"
USER_AGENT = "MarketStream-Webhook/1"

DELIVERED = "delivered"  # the receiver answered 2xx
REFUSED = "refused"  # the receiver answered something else (a redirect included)
UNREACHABLE = "unreachable"  # no answer: no address now, no connection, a timeout
BLOCKED = "blocked"  # the target failed the check at delivery: not retried


@dataclass(frozen=True, slots=True)
class Outcome:
    """One try's result, as the owner may see it (`attempt()`), and why, for the log."""

    result: str
    status: int | None = None  # the receiver's HTTP status, when it answered
    why: str = ""  # for the operator's log only: never stored on the event

    @property
    def delivered(self) -> bool:
        return self.result == DELIVERED

    @property
    def worth_retrying(self) -> bool:
        return self.result in (REFUSED, UNREACHABLE)

    def attempt(self) -> dict:
        """What an event records of this try (its caller adds the time)."""
        shown: dict = {"outcome": self.result}
        if self.status is not None:
            shown["status"] = self.status
        return shown


def signature(secret: str, body: bytes) -> str:
    """`X-MarketStream-Signature`'s value: the HMAC-SHA256 of the raw body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class PinnedAdapter(HTTPAdapter):
    """Connects to the target's checked address, whatever its host resolves to by now, and
    sends the URL's host in `Host` and, over TLS, in SNI and the certificate check. The
    same move as requests-hardened's IPFilterAdapter, which resolves and filters on its own
    (first address only, no allowlist) and so cannot connect where our check looked."""

    def __init__(self, target: Target) -> None:
        super().__init__()
        self.target = target

    def build_connection_pool_key_attributes(
        self, request: requests.PreparedRequest, verify: bool | str, cert=None
    ) -> tuple[dict, dict]:
        """Called by requests for each request this adapter sends, to pick a connection."""
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(
            request, verify, cert
        )
        target, scheme = self.target, host_params["scheme"]
        port = host_params["port"] or DEFAULT_PORTS.get(scheme)
        if (scheme, host_params["host"], port) != (target.scheme, target.host, target.port):
            # Another URL than the one checked (requests read it differently): not sent.
            raise TargetRefused("the request is not for the checked webhook target")
        host_params["host"] = str(target.address)
        if scheme == "https":
            pool_kwargs["server_hostname"] = target.host
            pool_kwargs["assert_hostname"] = target.host
        return host_params, pool_kwargs

    def add_headers(self, request: requests.PreparedRequest, **kwargs) -> None:
        """Called by requests before sending: the connection's host is an address now."""
        request.headers["Host"] = self.target.host_header


def session_for(target: Target) -> requests.Session:
    """A session that can only reach `target`'s checked address, never follows a redirect,
    and ignores proxy settings from the environment (a proxy would connect elsewhere)."""
    session = HTTPSession(
        Config(
            ip_filter_enable=False,  # our check ran; PinnedAdapter connects where it looked
            ip_filter_allow_loopback_ips=False,
            never_redirect=True,
            default_timeout=(CONNECT_TIMEOUT_SECONDS, READ_TIMEOUT_SECONDS),
            user_agent_override=USER_AGENT,
        )
    )
    session.trust_env = False
    adapter = PinnedAdapter(target)
    for prefix in ("http://", "https://"):
        session.mount(prefix, adapter)
    return session


def deliver(
    url: str, body: bytes, *, secret: str, event_id: str, resolve: Resolver = system_resolver
) -> Outcome:
    """POST `body` to `url`, signed with `secret`, once. Called by a feature's delivery
    task for each try; `event_id` is the same on every try of one event."""
    try:
        target = check_url(url, resolve=resolve)
    except TargetUnresolved as exc:
        return Outcome(UNREACHABLE, why=str(exc))
    except TargetRefused as exc:
        return Outcome(BLOCKED, why=str(exc))
    headers = {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: signature(secret, body),
        EVENT_HEADER: event_id,
    }
    try:  # stream: the receiver's body is never read (it could be any size)
        with (
            session_for(target) as session,
            session.post(url, data=body, headers=headers, stream=True) as response,
        ):
            status = response.status_code
    except TargetRefused as exc:
        return Outcome(BLOCKED, why=str(exc))
    except requests.RequestException as exc:
        return Outcome(UNREACHABLE, why=type(exc).__name__)
    return Outcome(DELIVERED if 200 <= status < 300 else REFUSED, status=status)
