"""The guarded network path of the outbound client: the SSRF guard and the transport.

The client (`http`) hands httpx a transport of its own (`GuardedTransport`) over an
httpcore connection pool whose *network backend* (`GuardedBackend`) resolves the host
itself, checks every address against the blocked ranges (`blocked_reason`), and opens
the TCP connection to an address it checked. The URL keeps the real hostname, so the
Host header, TLS SNI and certificate verification all use the hostname as usual and the
pool keys connections by hostname. The alternative (rewriting the URL to the IP and
passing httpcore's `sni_hostname` extension) would pool connections by IP, letting a TLS
connection verified for one hostname be reused for another hostname on the same IP.

Host names that spell an IP address are parsed strictly (`parse_ip_literal`): only the
canonical forms are accepted, so that what is checked is what every resolver understands.
Every socket read and write is also bounded by the request's overall deadline
(`current_deadline`), which the client sets around each request.
"""

from __future__ import annotations

import contextvars
import ipaddress
import re
import socket
import ssl
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import httpcore
import httpx

from syncengine.core.errors import PartnerError

KEEPALIVE_EXPIRY = 30.0

# --- address policy -------------------------------------------------------------------

# Cloud metadata services get a name of their own in the refusal: they are the classic
# SSRF target. All of them are also inside a blocked range below.
METADATA_ADDRESSES: dict[ipaddress.IPv4Address | ipaddress.IPv6Address, str] = {
    ipaddress.ip_address("169.254.169.254"): "cloud metadata service",
    ipaddress.ip_address("169.254.170.2"): "cloud metadata service",  # AWS ECS tasks
    ipaddress.ip_address("169.254.169.253"): "cloud metadata service",  # AWS DNS
    ipaddress.ip_address("fd00:ec2::254"): "cloud metadata service",  # AWS IPv6 IMDS
    ipaddress.ip_address("100.100.100.200"): "cloud metadata service",  # Alibaba
    ipaddress.ip_address("192.0.0.192"): "cloud metadata service",  # Oracle
}

# IANA special-purpose ranges, spelled out rather than taken from `ipaddress`'s
# is_private/is_global, whose answers changed between Python patch releases.
BLOCKED_IPV4_NETWORKS: tuple[tuple[ipaddress.IPv4Network, str], ...] = tuple(
    (ipaddress.IPv4Network(net), reason)
    for net, reason in (
        ("0.0.0.0/8", "unspecified"),
        ("10.0.0.0/8", "private"),
        ("100.64.0.0/10", "carrier-grade NAT (shared)"),
        ("127.0.0.0/8", "loopback"),
        ("169.254.0.0/16", "link-local"),
        ("172.16.0.0/12", "private"),
        ("192.0.0.0/24", "reserved (IETF protocol)"),
        ("192.0.2.0/24", "reserved (documentation)"),
        ("192.88.99.0/24", "reserved (6to4 relay)"),
        ("192.168.0.0/16", "private"),
        ("198.18.0.0/15", "reserved (benchmarking)"),
        ("198.51.100.0/24", "reserved (documentation)"),
        ("203.0.113.0/24", "reserved (documentation)"),
        ("224.0.0.0/4", "multicast"),
        ("240.0.0.0/4", "reserved"),
    )
)
IPV6_GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")
BLOCKED_IPV6_NETWORKS: tuple[tuple[ipaddress.IPv6Network, str], ...] = tuple(
    (ipaddress.IPv6Network(net), reason)
    for net, reason in (
        ("::/128", "unspecified"),
        ("::1/128", "loopback"),
        ("64:ff9b:1::/48", "private (local-use NAT64)"),
        ("100::/64", "reserved (discard)"),
        ("2001::/23", "reserved (IETF protocol, incl. Teredo)"),
        ("2001:db8::/32", "reserved (documentation)"),
        ("fc00::/7", "private (unique local)"),
        ("fe80::/10", "link-local"),
        ("fec0::/10", "link-local (site-local)"),
        ("ff00::/8", "multicast"),
    )
)
IPV4_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")
IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")
NAT64_WELL_KNOWN = ipaddress.IPv6Network("64:ff9b::/96")
SIX_TO_FOUR = ipaddress.IPv6Network("2002::/16")

# A host whose last label looks like a number is parsed as an IPv4 address by browsers
# and by inet_aton (WHATWG URL rules): 2130706433, 0177.0.0.1, 0x7f.1, 127.1 all mean
# 127.0.0.1. Only the canonical dotted quad is accepted, so that what we check is what
# every resolver understands.
_NUMERIC_LABEL = re.compile(r"(0[xX][0-9a-fA-F]*|[0-9]+)")
_CANONICAL_OCTET = re.compile(r"0|[1-9][0-9]{0,2}")
_HOSTNAME = re.compile(r"[A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-]+)*\.?")


def blocked_reason(address: str | ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """Why an IP address must not be contacted, or None if it is a public address.

    Refuses loopback, private, link-local, cloud metadata, CGNAT, multicast, unspecified
    and reserved ranges, and IPv6 forms embedding such an IPv4 address (IPv4-mapped,
    IPv4-compatible, NAT64 and 6to4).
    """
    ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    if isinstance(ip, ipaddress.IPv6Address) and ip.scope_id:
        ip = ipaddress.IPv6Address(str(ip).split("%", 1)[0])
    if ip in METADATA_ADDRESSES:
        return METADATA_ADDRESSES[ip]
    if isinstance(ip, ipaddress.IPv4Address):
        for network, reason in BLOCKED_IPV4_NETWORKS:
            if ip in network:
                return reason
        return None
    embedded = _embedded_ipv4(ip)
    if embedded is not None:
        inner = blocked_reason(embedded)
        return f"{inner} (embedded in IPv6 {ip})" if inner else None
    for network6, reason in BLOCKED_IPV6_NETWORKS:
        if ip in network6:
            return reason
    if ip not in IPV6_GLOBAL_UNICAST:
        return "reserved"
    return None


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for, for the translation forms."""
    if ip in IPV4_MAPPED:
        return ip.ipv4_mapped
    if ip in NAT64_WELL_KNOWN:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in SIX_TO_FOUR:
        return ip.sixtofour
    # ::/96 holds the deprecated IPv4-compatible form; :: and ::1 themselves are not.
    if ip in IPV4_COMPATIBLE and int(ip) > 1:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def parse_ip_literal(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The IP address a URL host spells, None for a hostname; `PartnerError` if ambiguous.

    Refuses the non-canonical IPv4 spellings (`2130706433`, `0177.0.0.1`, `0x7f.1`,
    `127.1`, a trailing dot), IPv6 zone ids, percent-escapes and other characters that
    have no place in a hostname.
    """
    if not host:
        raise PartnerError("invalid_url", "the URL has no host", permanent=True)
    if ":" in host:
        if "%" in host:
            raise PartnerError(
                "invalid_url",
                f"the IPv6 address {host!r} carries a zone id, which partner URLs cannot use",
                permanent=True,
                info={"host": host},
            )
        try:
            return ipaddress.IPv6Address(host)
        except ValueError:
            raise PartnerError(
                "invalid_url", f"{host!r} is not a valid IPv6 address", permanent=True
            ) from None
    if not _HOSTNAME.fullmatch(host):
        raise PartnerError(
            "invalid_url",
            f"the host {host!r} contains characters a hostname cannot have",
            permanent=True,
            info={"host": host},
        )
    labels = host.split(".")
    last = labels[-1] if labels[-1] or len(labels) == 1 else labels[-2]
    if not _NUMERIC_LABEL.fullmatch(last):
        return None
    if len(labels) == 4 and all(_CANONICAL_OCTET.fullmatch(label) for label in labels):
        try:
            return ipaddress.IPv4Address(host)
        except ValueError:
            pass  # an octet above 255: reported below
    raise PartnerError(
        "invalid_url",
        f"the host {host!r} is not a standard IPv4 address; write it as four decimal "
        "numbers (like 203.0.113.7) or use a hostname",
        permanent=True,
        info={"host": host},
    )


# --- resolving and connecting ---------------------------------------------------------

Resolver = Callable[[str, int], Sequence[str]]

# The end of the request being sent on this thread (time.monotonic()). Connections are
# pooled and shared, so the deadline travels with the calling thread, not the socket.
current_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "partner_request_deadline", default=None
)

# getaddrinfo errors that mean "this name does not exist", as opposed to a DNS hiccup.
_NAME_DOES_NOT_EXIST = {
    code
    for code in (getattr(socket, "EAI_NONAME", None), getattr(socket, "EAI_NODATA", None))
    if code is not None
}


def system_resolver(host: str, port: int) -> list[str]:
    """The host's addresses from the system resolver, in its order, without repeats."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    addresses: list[str] = []
    for _family, _type, _proto, _canon, sockaddr in infos:
        address = str(sockaddr[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


def _remaining(timeout: float | None) -> float | None:
    """The smaller of a phase timeout and what is left of the request's deadline."""
    deadline = current_deadline.get()
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise httpcore.ReadTimeout("the request's overall deadline has passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    """A socket stream whose reads and writes never outlive the request's deadline."""

    def __init__(self, inner: httpcore.NetworkStream, address: str):
        self._inner = inner
        self._address = address

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _remaining(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _remaining(timeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        tls = self._inner.start_tls(ssl_context, server_hostname, _remaining(timeout))
        return _DeadlineStream(tls, self._address)

    def get_extra_info(self, info: str) -> Any:
        if info == "checked_address":
            return self._address
        return self._inner.get_extra_info(info)


class GuardedBackend(httpcore.NetworkBackend):
    """Resolves the host itself, checks every address, connects to a checked one."""

    def __init__(self, *, resolver: Resolver, allow_private_networks: bool):
        self._resolver = resolver
        self._allow_private = allow_private_networks
        self._inner = httpcore.SyncBackend()

    def addresses_for(self, host: str, port: int) -> list[str]:
        """The addresses to try for `host`, all checked; `PartnerError` if any is blocked."""
        literal = parse_ip_literal(host)
        if literal is not None:
            addresses = [str(literal)]
        else:
            try:
                addresses = [str(a) for a in self._resolver(host, port)]
            except socket.gaierror as exc:
                raise PartnerError(
                    "dns_failure",
                    f"cannot resolve {host}: {exc.strerror or exc}",
                    permanent=exc.errno in _NAME_DOES_NOT_EXIST,
                    info={"host": host, "port": port},
                ) from None
            except OSError as exc:
                raise PartnerError(
                    "dns_failure",
                    f"cannot resolve {host}: {exc}",
                    permanent=False,
                    info={"host": host, "port": port},
                ) from None
            if not addresses:
                raise PartnerError(
                    "dns_failure",
                    f"{host} has no addresses",
                    permanent=True,
                    info={"host": host, "port": port},
                )
        if not self._allow_private:
            # One bad address refuses the host: a name that resolves to both a public
            # and an internal address is a rebinding attempt, not a partner.
            for address in addresses:
                reason = blocked_reason(address)
                if reason is not None:
                    raise PartnerError(
                        "blocked_address",
                        f"{host} resolves to {address}, a {reason} address",
                        permanent=True,
                        info={"host": host, "port": port, "address": address, "reason": reason},
                    )
        return addresses

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        last_error: Exception | None = None
        for address in self.addresses_for(host, port):
            try:
                stream = self._inner.connect_tcp(
                    address,
                    port,
                    timeout=_remaining(timeout),
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last_error = exc
                continue
            return _DeadlineStream(stream, address)
        assert last_error is not None  # addresses_for never returns an empty list
        raise last_error

    def connect_unix_socket(self, *args: Any, **kwargs: Any) -> httpcore.NetworkStream:
        raise PartnerError("invalid_url", "unix sockets are not allowed", permanent=True)

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class _CoreResponseStream(httpx.SyncByteStream):
    def __init__(self, core_stream: Iterable[bytes]):
        self._core_stream = core_stream

    def __iter__(self) -> Iterator[bytes]:
        yield from self._core_stream

    def close(self) -> None:
        close = getattr(self._core_stream, "close", None)
        if close is not None:
            close()


class GuardedTransport(httpx.BaseTransport):
    """httpx transport over an httpcore pool that uses `GuardedBackend` to connect.

    httpx's own HTTPTransport does not accept a network backend, hence this small
    transport. httpcore exceptions are not translated to httpx ones here: the client
    maps both families straight to `PartnerError`.
    """

    def __init__(self, *, ssl_context: ssl.SSLContext, backend: GuardedBackend, limits: int):
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context,
            max_connections=limits,
            max_keepalive_connections=limits,
            keepalive_expiry=KEEPALIVE_EXPIRY,
            http1=True,
            http2=False,
            network_backend=backend,
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        core_response = self._pool.handle_request(core_request)
        stream = core_response.stream
        # A synchronous pool gives a synchronous stream; httpcore's type admits either.
        assert isinstance(stream, Iterable)
        return httpx.Response(
            status_code=core_response.status,
            headers=core_response.headers,
            stream=_CoreResponseStream(stream),
            extensions=core_response.extensions,
        )

    def close(self) -> None:
        self._pool.close()
