"""Which IP addresses a webhook may reach, and how a URL's host spells one: used by
`webhooks.targets` when it checks a target. Publicly routable addresses pass; the server's
own network does not (loopback, private, link-local, multicast, reserved, unspecified,
IPv4-mapped IPv6, and the special-purpose ranges requests-hardened blocks: CG-NAT, NAT64,
6to4, ...), unless the operator's allowlist names the address or its network."""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass

from requests_hardened.ip_filter import EXTRA_BLOCKED_NET_RANGES

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# A host whose last label is a number is an IPv4 address however it is spelt: decimal
# (2130706433), hex (0x7f000001), octal (0177.0.0.1) or short (127.1). That is the WHATWG
# URL standard's rule and what the C library's inet_aton reads, so the resolver would
# connect there: such a host is read as the address it is, never passed on as a name.
_NUMERIC_LABEL = re.compile(r"0x[0-9a-f]*|[0-9]+", re.IGNORECASE)

# (why, test) in the order a refusal names them: the first that matches is the reason.
_INTERNAL = (
    ("unspecified", lambda a: a.is_unspecified),
    ("loopback", lambda a: a.is_loopback),
    ("link-local", lambda a: a.is_link_local),
    ("multicast", lambda a: a.is_multicast),
    ("site-local", lambda a: getattr(a, "is_site_local", False)),
    ("reserved", lambda a: a.is_reserved),
    ("private", lambda a: a.is_private),
    ("special-purpose", lambda a: any(a in net for net in EXTRA_BLOCKED_NET_RANGES)),
    ("not publicly routable", lambda a: not a.is_global),
)


def literal_address(host: str) -> IPAddress | None:
    """The address a URL's host writes literally (`::1`, `10.0.0.1`, and the odd IPv4
    spellings), or None when the host is a name. Raises ValueError for a numeric host that
    is no address. Called by `webhooks.targets.check_url`."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if not _NUMERIC_LABEL.fullmatch(host.rsplit(".", 1)[-1]):
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        raise ValueError(f"{host} is not a valid IPv4 address") from None


def refusal(address: IPAddress) -> str | None:
    """Why a webhook may not reach `address` (a few words for the owner), or None when it
    is publicly routable. Called for every address of a target, at creation and delivery."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        # ::ffff:a.b.c.d is a.b.c.d to a dual-stack socket; no receiver needs this form.
        return "IPv4-mapped IPv6"
    for why, internal in _INTERNAL:
        if internal(address):
            return why
    return None


def shown(address: IPAddress) -> str:
    """`address` as a person reads it: ::ffff:169.254.169.254, not ::ffff:a9fe:a9fe."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return f"::ffff:{address.ipv4_mapped}"
    return str(address)


def _unmapped(address: IPAddress) -> IPAddress:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


@dataclass(frozen=True, slots=True)
class Allowlist:
    """The operator's internal receivers (`settings.WEBHOOK_ALLOWED_HOSTS`): host names,
    addresses and networks (`10.0.0.0/8`) that webhooks may reach although internal."""

    hosts: frozenset[str]
    networks: tuple[IPNetwork, ...]

    @classmethod
    def parse(cls, entries: Iterable[str]) -> Allowlist:
        """Read from the setting by `webhooks.targets.check_url`, on every check."""
        hosts, networks = set(), []
        for entry in entries:
            item = entry.strip().strip("[]").rstrip(".").lower()
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                hosts.add(item)
        return cls(hosts=frozenset(hosts), networks=tuple(networks))

    def allows_host(self, name: str) -> bool:
        """True when the operator listed this host name: every address it has may be used."""
        return name in self.hosts

    def allows_address(self, address: IPAddress) -> bool:
        """True when the operator listed this address or a network holding it."""
        plain = _unmapped(address)
        return any(plain.version == net.version and plain in net for net in self.networks)
