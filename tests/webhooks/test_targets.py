"""webhooks.targets.check_url: which webhook URLs may be called and at which address, with
the resolver injected (the names below exist nowhere; tests cannot reach DNS)."""

from __future__ import annotations

import ipaddress
import re

import pytest

from webhooks.targets import TargetRefused, TargetUnresolved, check_url


class Resolver:
    """Answers from a table and remembers what it was asked."""

    def __init__(self, **answers: list[str]) -> None:
        self.answers = {name.replace("_", "."): found for name, found in answers.items()}
        self.asked: list[str] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        if host not in self.answers:
            raise OSError("no such name")  # socket.gaierror is an OSError
        return self.answers[host]


def never(host: str, port: int) -> list[str]:
    raise AssertionError(f"{host} should not be resolved")


@pytest.fixture(autouse=True)
def no_allowlist(settings):
    settings.WEBHOOK_ALLOWED_HOSTS = []


@pytest.mark.parametrize(
    ("url", "address"),
    [
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254: link-local"),
        ("http://10.0.0.1/hook", "10.0.0.1: private"),
        ("http://[::1]:8080/hook", "::1: loopback"),
        ("http://0.0.0.0/hook", "0.0.0.0: unspecified"),
        ("http://2130706433/hook", "127.0.0.1: loopback"),
        ("http://0x7f000001/hook", "127.0.0.1: loopback"),
        ("https://[::ffff:169.254.169.254]/", "::ffff:169.254.169.254: IPv4-mapped IPv6"),
        ("http://[fe80::1]/", "fe80::1: link-local"),
        ("http://[fd00:ec2::254]/", "fd00:ec2::254: private"),
    ],
)
def test_internal_addresses_written_in_the_url_are_refused_without_dns(url, address):
    with pytest.raises(TargetRefused) as refused:
        check_url(url, resolve=never)
    assert str(refused.value) == (
        f"the webhook URL's host is an internal address ({address}): not allowed"
    )


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("http://metadata.google.internal/computeMetadata/v1/", "cloud metadata"),
        ("http://metadata.google.internal./", "cloud metadata"),
        ("http://METADATA/", "cloud metadata"),
        ("http://instance-data/latest/", "cloud metadata"),
        ("http://localhost:6379/", "local-only"),
        ("http://api.localhost/", "local-only"),
        ("http://db.corp.internal/", "local-only"),
        ("http://printer.local/", "local-only"),
    ],
)
def test_metadata_and_local_only_names_are_refused_by_name(url, kind):
    with pytest.raises(TargetRefused, match=f"is a {kind} name"):
        check_url(url, resolve=never)


def test_a_name_resolving_to_an_internal_address_is_refused():
    resolve = Resolver(hooks_example_com=["10.0.0.1"])
    with pytest.raises(TargetRefused) as refused:
        check_url("https://hooks.example.com/in", resolve=resolve)
    assert str(refused.value) == (
        "the webhook URL's host resolves to an internal address (10.0.0.1: private): not allowed"
    )
    assert resolve.asked == ["hooks.example.com"]


def test_every_address_of_a_name_is_checked_not_just_the_first():
    resolve = Resolver(hooks_example_com=["93.184.216.34", "2606:4700::1111", "::1"])
    with pytest.raises(TargetRefused, match=r"\(::1: loopback\)"):
        check_url("https://hooks.example.com/in", resolve=resolve)


def test_a_name_that_does_not_resolve_is_said_so():
    for resolve in (Resolver(), Resolver(nowhere_example=[])):
        with pytest.raises(
            TargetUnresolved, match=re.escape("host nowhere.example does not resolve")
        ):
            check_url("https://nowhere.example/", resolve=resolve)


def test_a_public_target_carries_the_first_checked_address_and_its_host_header():
    resolve = Resolver(hooks_example_com=["93.184.216.34", "2606:4700::1111"])
    target = check_url("https://Hooks.Example.com:8443/in?x=1", resolve=resolve)
    assert (target.scheme, target.host, target.port) == ("https", "hooks.example.com", 8443)
    assert target.address == ipaddress.ip_address("93.184.216.34")
    assert target.host_header == "hooks.example.com:8443"
    v6 = check_url("http://[2606:4700::1111]/", resolve=never)
    assert (v6.port, v6.host_header) == (80, "[2606:4700::1111]")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://hooks.example.com/", "must be http(s)://host/"),
        ("file:///etc/passwd", "must be http(s)://host/"),
        ("gopher://127.0.0.1:6379/_FLUSHALL", "must be http(s)://host/"),
        ("http:///no-host", "must be http(s)://host/"),
        ("http://hooks.example.com\\@127.0.0.1/", "without spaces or backslashes"),
        ("http://hooks.exämple.com/", "xn-- form"),
        ("http://hooks.example.com:0/", "port must be a number"),
        ("http://hooks.example.com:99999/", "port must be a number"),
        ("http://1.2.3.999/", "1.2.3.999 is not a valid IPv4 address"),
    ],
)
def test_malformed_urls_are_refused_with_the_reason(url, message):
    with pytest.raises(TargetRefused, match=re.escape(message)):
        check_url(url, resolve=never)


def test_the_operator_allowlist_lets_listed_hosts_addresses_and_networks_through(settings):
    settings.WEBHOOK_ALLOWED_HOSTS = ["hooks.corp.internal", "10.1.0.0/16", "127.0.0.1"]
    resolve = Resolver(hooks_corp_internal=["10.9.9.9"], relay_example_com=["10.1.2.3"])
    assert str(check_url("http://hooks.corp.internal/", resolve=resolve).address) == "10.9.9.9"
    assert str(check_url("http://relay.example.com/", resolve=resolve).address) == "10.1.2.3"
    assert str(check_url("http://127.0.0.1:9000/", resolve=never).address) == "127.0.0.1"
    # Listing 127.0.0.1 lets that address through, not the rest of the server's network.
    with pytest.raises(TargetRefused, match=r"\(127.0.0.2: loopback\)"):
        check_url("http://127.0.0.2:9000/", resolve=never)
    with pytest.raises(TargetRefused, match="cloud metadata"):
        check_url("http://metadata.google.internal/", resolve=never)
