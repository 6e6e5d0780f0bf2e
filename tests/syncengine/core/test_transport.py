"""The SSRF guard: every address class and spelling refused, and nothing ever connected.

Each refusal is checked against a live loopback listener that counts connections (the shared
`listener` fixture), so a test proves not only the error but that no packet reached the
address.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from syncengine.core.errors import PartnerError
from syncengine.core.http import OutboundClient
from syncengine.core.transport import blocked_reason, parse_ip_literal, system_resolver
from syncengine.core.types import PreparedRequest


def get(url: str) -> PreparedRequest:
    return PreparedRequest(endpoint="create_list", method="GET", url=url, headers=(), body=None)


@pytest.fixture
def guarded() -> Iterator[OutboundClient]:
    with OutboundClient(connect_timeout=1, read_timeout=1, deadline=2) as outbound:
        yield outbound


BLOCKED = {
    # IPv4
    "127.0.0.1": "loopback",
    "127.255.255.254": "loopback",
    "10.1.2.3": "private",
    "172.16.0.1": "private",
    "172.31.255.255": "private",
    "192.168.1.1": "private",
    "169.254.169.254": "cloud metadata service",
    "169.254.170.2": "cloud metadata service",
    "169.254.1.1": "link-local",
    "100.64.0.1": "carrier-grade NAT (shared)",
    "100.127.255.254": "carrier-grade NAT (shared)",
    "100.100.100.200": "cloud metadata service",
    "192.0.0.192": "cloud metadata service",
    "0.0.0.0": "unspecified",
    "0.1.2.3": "unspecified",
    "224.0.0.1": "multicast",
    "239.255.255.250": "multicast",
    "240.0.0.1": "reserved",
    "255.255.255.255": "reserved",
    "198.18.0.1": "reserved (benchmarking)",
    "192.0.2.1": "reserved (documentation)",
    # IPv6
    "::1": "loopback",
    "::": "unspecified",
    "fe80::1": "link-local",
    "fc00::1": "private (unique local)",
    "fd12:3456::1": "private (unique local)",
    "fd00:ec2::254": "cloud metadata service",
    "ff02::1": "multicast",
    "2001:db8::1": "reserved (documentation)",
    "2001::1": "reserved (IETF protocol, incl. Teredo)",
    "64:ff9b:1::a00:1": "private (local-use NAT64)",
    "100::1": "reserved (discard)",
    "4000::1": "reserved",  # outside global unicast 2000::/3
}

EMBEDDED_BLOCKED = [
    "::ffff:127.0.0.1",  # IPv4-mapped loopback
    "::ffff:10.0.0.1",  # IPv4-mapped private
    "::ffff:169.254.169.254",  # IPv4-mapped metadata
    "::127.0.0.1",  # IPv4-compatible loopback
    "::10.0.0.1",  # IPv4-compatible private
    "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
    "2002:7f00:1::",  # 6to4 of 127.0.0.1
    "2002:a00:1::1",  # 6to4 of 10.0.0.1
]

ALLOWED = [
    "8.8.8.8",
    "1.1.1.1",
    "93.184.216.34",
    "100.63.255.255",  # just below CGNAT
    "100.128.0.0",  # just above CGNAT
    "172.32.0.1",  # just above 172.16/12
    "2606:4700:4700::1111",
    "::ffff:8.8.8.8",  # IPv4-mapped public
    "64:ff9b::808:808",  # NAT64 of a public address
]


@pytest.mark.parametrize(("address", "reason"), sorted(BLOCKED.items()))
def test_each_address_class_is_blocked_with_its_reason(address, reason):
    assert blocked_reason(address) == reason


@pytest.mark.parametrize("address", EMBEDDED_BLOCKED)
def test_ipv6_forms_embedding_a_blocked_ipv4_are_blocked(address):
    reason = blocked_reason(address)
    assert reason is not None
    assert "embedded in IPv6" in reason


@pytest.mark.parametrize("address", ALLOWED)
def test_public_addresses_are_allowed(address):
    assert blocked_reason(address) is None


def test_a_scoped_link_local_address_is_blocked():
    assert blocked_reason("fe80::1%eth0") == "link-local"


# --- spellings ------------------------------------------------------------------------

ODD_SPELLINGS = [
    "2130706433",  # decimal
    "0177.0.0.1",  # octal
    "0x7f.1",  # hex, short
    "0x7f000001",  # hex
    "0x7f.0.0.1",
    "127.1",  # short
    "127.0.1",
    "017700000001",
    "127.0.0.01",  # leading zero in an octet
    "127.0.0.1.",  # trailing dot
    "1.2.3.4.5",
    "256.1.1.1",
    "0",
]


@pytest.mark.parametrize("host", ODD_SPELLINGS)
def test_non_standard_ipv4_spellings_are_refused(host):
    with pytest.raises(PartnerError) as caught:
        parse_ip_literal(host)
    assert caught.value.kind == "invalid_url"


@pytest.mark.parametrize("host", ODD_SPELLINGS)
def test_odd_spellings_never_connect_even_with_private_networks_allowed(listener, host):
    with OutboundClient(allow_private_networks=True) as outbound, pytest.raises(PartnerError):
        outbound.send(get(f"http://{host}:{listener.port}/"))
    assert listener.accepted == 0


@pytest.mark.parametrize(
    "host",
    ["%31%32%37.0.0.1", "127.0.0.1%2f", "local host", "[fe80::1%25eth0]"],
)
def test_escapes_and_zone_ids_in_hosts_are_refused(guarded, host):
    with pytest.raises(PartnerError) as caught:
        guarded.send(get(f"http://{host}/"))
    assert caught.value.kind == "invalid_url"


@pytest.mark.parametrize(
    ("host", "expected"),
    [("203.0.113.7", "203.0.113.7"), ("partner.example.com", None), ("xn--bcher-kva.de", None)],
)
def test_standard_hosts_parse(host, expected):
    parsed = parse_ip_literal(host)
    assert (str(parsed) if parsed else None) == expected


# --- the guard in the client --------------------------------------------------------------


@pytest.mark.parametrize(
    "url_host", ["127.0.0.1", "[::ffff:127.0.0.1]", "[::127.0.0.1]", "[64:ff9b::7f00:1]"]
)
def test_literal_loopback_urls_are_refused_before_connecting(guarded, listener, url_host):
    with pytest.raises(PartnerError) as caught:
        guarded.send(get(f"http://{url_host}:{listener.port}/"))
    assert caught.value.kind == "blocked_address"
    assert caught.value.permanent is True
    assert listener.accepted == 0


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://100.100.100.200/latest/meta-data/",
        "http://10.0.0.1/",
        "http://100.64.0.1/",
        "http://[::]:80/",
        "http://0.0.0.0:80/",
        "http://224.0.0.1/",
    ],
)
def test_internal_literal_addresses_are_refused(guarded, url):
    with pytest.raises(PartnerError) as caught:
        guarded.send(get(url))
    assert caught.value.kind == "blocked_address"


def test_a_hostname_resolving_to_loopback_is_refused(listener):
    with (
        OutboundClient(resolver=lambda host, port: ["127.0.0.1"]) as outbound,
        pytest.raises(PartnerError) as caught,
    ):
        outbound.send(get(f"http://partner.example:{listener.port}/"))
    error = caught.value
    assert error.kind == "blocked_address"
    assert error.info["address"] == "127.0.0.1"
    assert error.info["reason"] == "loopback"
    assert error.request is not None
    assert listener.accepted == 0


def test_a_hostname_resolving_to_metadata_is_refused():
    with (
        OutboundClient(resolver=lambda host, port: ["169.254.169.254"]) as outbound,
        pytest.raises(PartnerError) as caught,
    ):
        outbound.send(get("http://metadata.partner.example/"))
    assert caught.value.info["reason"] == "cloud metadata service"


def test_one_internal_address_among_public_ones_refuses_the_host(listener):
    # A name answering both a public and an internal address is a rebinding attempt.
    with (
        OutboundClient(resolver=lambda host, port: ["8.8.8.8", "10.0.0.5"]) as outbound,
        pytest.raises(PartnerError) as caught,
    ):
        outbound.send(get(f"http://mixed.example:{listener.port}/"))
    assert caught.value.info["address"] == "10.0.0.5"


def test_localhost_through_the_system_resolver_is_refused(listener):
    # /etc/hosts answers for localhost: no DNS traffic leaves the machine.
    assert all(blocked_reason(a) == "loopback" for a in system_resolver("localhost", 80))
    with OutboundClient() as outbound, pytest.raises(PartnerError) as caught:
        outbound.send(get(f"http://localhost:{listener.port}/"))
    assert caught.value.kind == "blocked_address"
    assert listener.accepted == 0


def test_the_same_hostname_is_allowed_when_private_networks_are_allowed(partner):
    with OutboundClient(
        allow_private_networks=True, resolver=lambda host, port: ["127.0.0.1"]
    ) as outbound:
        response = outbound.send(get(f"http://partner.example:{partner.port}/healthz"))
    assert response.status == 200


def test_the_connection_goes_to_the_address_that_was_resolved_and_checked(start_partner):
    """The client connects to the resolver's answer, never resolving the name again.

    The name ends in .invalid, which no real resolver answers, and the listener is on
    127.0.0.2, where nothing else would send it: reaching it proves the connection went
    to the address our resolver (and so the guard) saw.
    """
    lookups: list[tuple[str, int]] = []

    def resolver(host: str, port: int) -> list[str]:
        lookups.append((host, port))
        return ["127.0.0.2"]

    partner = start_partner(host="127.0.0.2")
    with OutboundClient(allow_private_networks=True, resolver=resolver) as outbound:
        response = outbound.send(get(f"http://rebind.invalid:{partner.port}/healthz"))

    assert response.status == 200
    assert response.remote_address == "127.0.0.2"
    assert lookups == [("rebind.invalid", partner.port)]


def test_the_host_header_keeps_the_real_hostname(partner):
    with OutboundClient(
        allow_private_networks=True, resolver=lambda host, port: ["127.0.0.1"]
    ) as outbound:
        request = PreparedRequest(
            endpoint="create_list",
            method="POST",
            url=f"http://api.partner.example:{partner.port}/v1/lists",
            headers=(("Authorization", "Bearer demo-token"),),
            body=b'{"name": "x"}',
        )
        outbound.send(request)
        headers = dict(partner.state.log_entries()[0]["headers"])
    assert headers["Host"] == f"api.partner.example:{partner.port}"


def test_the_guard_is_on_by_default():
    assert OutboundClient().allow_private_networks is False


# --- properties over every address -------------------------------------------------------


@given(st.ip_addresses(v=4))
def test_ipv6_translations_of_an_ipv4_address_share_its_verdict(ipv4):
    blocked = blocked_reason(ipv4) is not None
    for form in (f"::ffff:{ipv4}", f"64:ff9b::{ipv4}"):
        assert (blocked_reason(form) is not None) == blocked, form


@given(st.integers(min_value=0, max_value=2**32 - 1))
def test_every_integer_spelling_of_an_ipv4_address_is_refused(number):
    for host in (str(number), hex(number), "0" + oct(number)[2:]):
        with pytest.raises(PartnerError):
            parse_ip_literal(host)


@given(st.ip_addresses(v=4))
def test_every_canonical_dotted_quad_parses_to_itself(ipv4):
    assert parse_ip_literal(str(ipv4)) == ipv4
