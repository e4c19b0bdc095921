"""webhooks.addresses: which addresses a webhook may reach, and how a host spells one."""

from __future__ import annotations

import ipaddress

import pytest

from webhooks.addresses import Allowlist, literal_address, refusal


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("0.0.0.0", "unspecified"),  # noqa: S104 (an address checked, not bound)
        ("::", "unspecified"),
        ("10.0.0.1", "private"),
        ("172.16.5.4", "private"),
        ("192.168.1.1", "private"),
        ("fd00:ec2::254", "private"),  # AWS's IPv6 metadata address
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("fec0::1", "site-local"),
        ("240.0.0.1", "reserved"),
        ("64:ff9b::a00:1", "reserved"),  # NAT64 wrapping 10.0.0.1
        ("::ffff:169.254.169.254", "IPv4-mapped IPv6"),
        ("::ffff:8.8.8.8", "IPv4-mapped IPv6"),
        ("100.100.100.200", "special-purpose"),  # CG-NAT: Alibaba's metadata address
        ("2002:a00:1::", "special-purpose"),  # 6to4 wrapping 10.0.0.1
    ],
)
def test_internal_addresses_are_refused_with_their_reason(address, why):
    assert refusal(ipaddress.ip_address(address)) == why


@pytest.mark.parametrize("address", ["8.8.8.8", "93.184.216.34", "2606:4700::1111"])
def test_public_addresses_pass(address):
    assert refusal(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("2130706433", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("0xa9.254.169.254", "169.254.169.254"),
        ("10.0.0.1", "10.0.0.1"),
        ("::ffff:127.0.0.1", "::ffff:127.0.0.1"),
    ],
)
def test_odd_ipv4_spellings_are_read_as_the_address_they_are(host, address):
    assert literal_address(host) == ipaddress.ip_address(address)


def test_names_are_not_addresses_and_a_bad_number_is_an_error():
    assert literal_address("hooks.example.com") is None
    assert literal_address("1e100.net") is None
    with pytest.raises(ValueError, match="not a valid IPv4 address"):
        literal_address("1.2.3.999")


def test_the_allowlist_takes_hosts_addresses_and_networks():
    allowed = Allowlist.parse(["Hooks.Corp.", "[::1]", "10.1.0.0/16", "127.0.0.1"])
    assert allowed.allows_host("hooks.corp")
    assert not allowed.allows_host("other.corp")
    for yes in ("::1", "10.1.2.3", "127.0.0.1", "::ffff:127.0.0.1"):
        assert allowed.allows_address(ipaddress.ip_address(yes)), yes
    for no in ("10.2.0.1", "127.0.0.2", "169.254.169.254"):
        assert not allowed.allows_address(ipaddress.ip_address(no)), no
