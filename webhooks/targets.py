"""Whether a webhook URL may be called, and at which address: checked when a webhook is
made (alerts' validation and admin) and again just before every delivery
(`webhooks.delivery.deliver`), which then connects to the address checked here. A URL is
http(s) in plain ASCII; cloud metadata and local-only names are refused by name; the host
is resolved and every address it has must be public (`webhooks.addresses`), unless the
operator's `settings.WEBHOOK_ALLOWED_HOSTS` lists the host or the address."""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

from webhooks.addresses import Allowlist, IPAddress, literal_address, refusal, shown

# (host, port) -> the addresses it resolves to, best first (`socket.getaddrinfo`'s order).
Resolver = Callable[[str, int], list[str]]

DEFAULT_PORTS = {"http": 80, "https": 443}
# Names that reach a cloud's instance metadata (credentials) wherever the server runs.
METADATA_NAMES = frozenset(
    {"metadata.google.internal", "metadata.goog", "metadata", "instance-data"}
)
# Top-level names that only ever mean a local network: `localhost` (RFC 6761), `internal`
# (ICANN's private-use TLD; clouds name VMs and metadata there), `local` (mDNS).
LOCAL_ONLY_TLDS = frozenset({"localhost", "internal", "local"})
# What urlsplit may leave of a host that is one: a DNS name, an IPv4 spelling, or an IPv6
# address with its zone. Anything else is refused rather than guessed at.
_HOST = re.compile(r"[a-z0-9._~%:-]+")


class TargetError(Exception):
    """Why a webhook URL may not be called now (its text is shown to the URL's owner)."""


class TargetRefused(TargetError):
    """The URL is not an allowed webhook target: refused, not worth retrying."""


class TargetUnresolved(TargetError):
    """The host has no address now: perhaps DNS is down, worth retrying at delivery."""


@dataclass(frozen=True, slots=True)
class Target:
    """A URL that passed the check, with the one address a delivery connects to."""

    url: str
    scheme: str
    host: str  # as urlsplit reads it from the URL (lower case, no brackets)
    port: int
    host_header: str  # the URL's host[:port], for `Host`
    address: IPAddress


def system_resolver(host: str, port: int) -> list[str]:
    """The operating system's answer for `host` (DNS, /etc/hosts), best first."""
    found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [info[4][0] for info in found if info[0] in (socket.AF_INET, socket.AF_INET6)]


def _parts(url: str) -> tuple[str, str, int, str]:
    if not url.isascii() or not url.isprintable() or any(c in url for c in " \\"):
        raise TargetRefused(
            "the webhook URL must be plain ASCII without spaces or backslashes "
            "(write an international host name in its xn-- form)"
        )
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme not in DEFAULT_PORTS or not host:
        raise TargetRefused("the webhook URL must be http(s)://host/...")
    if not _HOST.fullmatch(host):
        raise TargetRefused(f"the webhook URL's host {host!r} is not a host name or address")
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0:
        raise TargetRefused("the webhook URL's port must be a number from 1 to 65535")
    port = port or DEFAULT_PORTS[parts.scheme]
    host_header = f"[{host}]" if ":" in host else host
    if port != DEFAULT_PORTS[parts.scheme]:
        host_header += f":{port}"
    return parts.scheme, host, port, host_header


def _refuse_by_name(name: str) -> None:
    if name in METADATA_NAMES:
        raise TargetRefused(
            f"the webhook URL's host is a cloud metadata name ({name}): not allowed"
        )
    if name.rsplit(".", 1)[-1] in LOCAL_ONLY_TLDS:
        raise TargetRefused(f"the webhook URL's host is a local-only name ({name}): not allowed")


def _addresses(name: str, port: int, resolve: Resolver) -> tuple[list[IPAddress], bool]:
    """The host's addresses, and whether the host wrote one literally."""
    try:
        literal = literal_address(name)
    except ValueError as exc:
        raise TargetRefused(f"the webhook URL's host {exc}") from None
    if literal is not None:
        return [literal], True
    try:
        found = list(dict.fromkeys(ipaddress.ip_address(a) for a in resolve(name, port)))
    except (OSError, UnicodeError):  # socket.gaierror is an OSError; bad labels fail idna
        found = []
    if not found:
        raise TargetUnresolved(f"the webhook URL's host {name} does not resolve")
    return found, False


def _refuse_internal(addresses: list[IPAddress], allowed: Allowlist, *, literal: bool) -> None:
    for address in addresses:
        why = refusal(address)
        if why is not None and not allowed.allows_address(address):
            verb = "is" if literal else "resolves to"
            raise TargetRefused(
                f"the webhook URL's host {verb} an internal address ({shown(address)}: {why}): "
                "not allowed"
            )


def check_url(url: str, *, resolve: Resolver = system_resolver) -> Target:
    """The target `url` names, with the address to connect to. Raises TargetRefused or
    TargetUnresolved (a message for the owner). Called when a webhook is made and before
    every delivery, so a name that resolves elsewhere since is checked again."""
    scheme, host, port, host_header = _parts(url)
    allowed = Allowlist.parse(settings.WEBHOOK_ALLOWED_HOSTS)
    name = host.rstrip(".")  # `localhost.` is `localhost`
    trusted = allowed.allows_host(name)  # the operator's own receiver, by name
    if not trusted:
        _refuse_by_name(name)
    addresses, literal = _addresses(name, port, resolve)
    if not trusted:
        _refuse_internal(addresses, allowed, literal=literal)
    return Target(
        url=url, scheme=scheme, host=host, port=port, host_header=host_header, address=addresses[0]
    )
