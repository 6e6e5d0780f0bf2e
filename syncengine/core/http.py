"""The one outbound HTTP client for partner calls (DESIGN section 7).

Everything the platform sends to a partner goes through `OutboundClient.send`:

- timeouts: connect 5 s, read 30 s, plus an overall deadline per request so that a
  response trickling in forever is cut;
- redirects are never followed (a 3xx is a `PartnerError` of kind `redirect`);
- only http and https;
- the response is streamed and at most 1 MiB is kept for display (`truncated` says when
  more was sent); a declared Content-Length beyond a cap is refused unread;
- `User-Agent`, `Idempotency-Key: <batch_id>` and, when the integration opted in, an
  HMAC signature header (see `signing`) are added;
- the SSRF guard: the host is resolved by us, every address is checked against the
  blocked ranges, and the connection goes to an address that was checked.

How the guard connects to the checked address: the client uses its own httpx transport
over an httpcore connection pool whose *network backend* resolves and checks the host,
then opens the TCP connection to the checked IP. The URL keeps the real hostname, so the
Host header, TLS SNI and certificate verification all use the hostname as usual and the
pool keys connections by hostname. The alternative (rewriting the URL to the IP and
passing httpcore's `sni_hostname` extension) would pool connections by IP, letting a TLS
connection verified for one hostname be reused for another hostname on the same IP.

Failures are one exception family, `PartnerError`; `diagnosis` turns them into plain
language and `retry` decides what to do about them.
"""

from __future__ import annotations

import contextvars
import errno
import functools
import ipaddress
import json
import logging
import re
import socket
import ssl
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import httpcore
import httpx

from syncengine.core import signing
from syncengine.core.masking import MASK, mask_headers, mask_text
from syncengine.core.retry import is_retryable_status, parse_retry_after
from syncengine.core.types import PreparedRequest

if TYPE_CHECKING:
    from syncengine.core.diagnosis import Diagnosis
    from syncengine.core.retry import AttemptRecord

logger = logging.getLogger(__name__)

# httpx logs every request URL at INFO and httpcore traces response headers at DEBUG,
# unscrubbed: a token in a query string or echoed back by a partner would land in the
# logs. Every outbound call goes through this module, which logs its own scrubbed line,
# so their loggers are quietened unless a deployment configured them on purpose.
for _library_logger in ("httpx", "httpcore"):
    if logging.getLogger(_library_logger).level == logging.NOTSET:
        logging.getLogger(_library_logger).setLevel(logging.WARNING)

CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 30.0
WRITE_TIMEOUT = 30.0
# Waiting for a free pooled connection; only reached when more threads share a client
# than it has connections.
POOL_TIMEOUT = 30.0
# Whole request, from the first connect to the last byte of the body.
REQUEST_DEADLINE = 60.0
MAX_RESPONSE_BYTES = 1024 * 1024
# A Content-Length above this is refused without reading: no partner answer to a sync
# call is legitimately this large, and we would keep only the first MiB anyway.
MAX_CONTENT_LENGTH = 10 * 1024 * 1024
# Request bodies are kept for display up to the same size as responses.
MAX_DISPLAY_BODY_BYTES = MAX_RESPONSE_BYTES
MAX_CONNECTIONS = 16
KEEPALIVE_EXPIRY = 30.0
USER_AGENT = "CohortPortal/1.0 (+https://cohort-portal.example/docs/partners/requests)"
IDEMPOTENCY_HEADER = "Idempotency-Key"
ALLOWED_SCHEMES = frozenset({"http", "https"})

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
_CREDENTIALS_IN_URL = re.compile(r"(?<=://)[^/@\s]*@")


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
    for network, reason in BLOCKED_IPV6_NETWORKS:
        if ip in network:
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


# --- the error family -----------------------------------------------------------------


class PartnerError(Exception):
    """A partner call that did not produce a usable 2xx response.

    `kind` names what went wrong (connection_refused, dns_failure, tls_error, timeout,
    redirect, too_large, blocked_address, invalid_url, connection_closed,
    connection_error, http_status, non_json, list_id_missing); `permanent` says whether
    retrying can help (before the endpoint's classifications are applied); `status` and
    `response` are set when the partner answered; `retry_after` holds its Retry-After in
    seconds; `request` is the request as it was sent, if it got that far; `info` carries
    structured details (host, port, address, reason, location, timeout, ...) for the
    diagnosis. `diagnosis` and `attempts` are filled in by `retry.send_with_retries`.
    """

    def __init__(
        self,
        kind: str,
        message: str,
        *,
        permanent: bool,
        status: int | None = None,
        retry_after: float | None = None,
        response: PartnerResponse | None = None,
        request: PreparedRequest | None = None,
        info: Mapping[str, Any] | None = None,
    ):
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.permanent = permanent
        self.status = status
        self.retry_after = retry_after
        self.response = response
        self.request = request
        self.info: dict[str, Any] = dict(info or {})
        self.diagnosis: Diagnosis | None = None
        self.attempts: tuple[AttemptRecord, ...] = ()

    def __repr__(self) -> str:
        return f"PartnerError({self.kind!r}, {self.message!r}, status={self.status!r})"


# --- responses and display ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PartnerResponse:
    """A partner's answer as recorded: status, headers and at most 1 MiB of body.

    `request` is the request as sent, with the headers the client added. `truncated` is
    true when the partner sent more than was kept. `remote_address` is the IP the
    connection actually went to.
    """

    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    truncated: bool
    latency_ms: float
    request: PreparedRequest
    remote_address: str | None = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status <= 299

    @property
    def text(self) -> str:
        """The body as text; invalid UTF-8 shows as replacement characters."""
        return self.body.decode("utf-8", errors="replace")

    def header(self, name: str) -> str | None:
        """The first value of a response header, case-insensitively."""
        wanted = name.lower()
        for key, value in self.headers:
            if key.lower() == wanted:
                return value
        return None

    def json(self) -> Any:
        """The body decoded as JSON, or `PartnerError` kind `non_json` saying why not."""
        if self.truncated:
            raise PartnerError(
                "non_json",
                f"the body was cut at {len(self.body)} bytes, so it cannot be read as JSON",
                permanent=True,
                status=self.status,
                response=self,
                request=self.request,
            )
        try:
            return json.loads(self.body)
        except (ValueError, RecursionError) as exc:
            excerpt = self.text[:200] or "(empty body)"
            raise PartnerError(
                "non_json",
                f"{exc}; the body starts with {excerpt!r}",
                permanent=True,
                status=self.status,
                response=self,
                request=self.request,
            ) from None


def scrub_url(url: str, secrets: Iterable[str] = ()) -> str:
    """A URL safe to log or show: credentials in it replaced and secrets masked."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return mask_text(_CREDENTIALS_IN_URL.sub(f"{MASK}@", url), secrets)
    if parts.username is not None or parts.password is not None:
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        netloc = f"{MASK}@{host}" + (f":{parts.port}" if parts.port else "")
        url = urlunsplit(parts._replace(netloc=netloc))
    return mask_text(url, secrets)


def _display_body(body: bytes | None, secrets: Sequence[str]) -> tuple[str, bool]:
    if not body:
        return "", False
    truncated = len(body) > MAX_DISPLAY_BODY_BYTES
    text = body[:MAX_DISPLAY_BODY_BYTES].decode("utf-8", errors="replace")
    return mask_text(text, secrets), truncated


def request_for_display(request: PreparedRequest) -> dict[str, Any]:
    """A request with its secrets masked everywhere: URL, headers and body."""
    secrets = request.secrets
    body, truncated = _display_body(request.body, secrets)
    return {
        "endpoint": request.endpoint,
        "method": request.method,
        "url": scrub_url(request.url, secrets),
        "headers": mask_headers(request.headers, secrets),
        "body": body,
        "body_truncated": truncated,
        "batch_id": request.batch_id,
        "item_count": request.item_count,
    }


def response_for_display(response: PartnerResponse, secrets: Iterable[str]) -> dict[str, Any]:
    """A response with any secret the partner echoed back masked."""
    secrets = tuple(secrets)
    return {
        "status": response.status,
        "reason": response.reason,
        "headers": mask_headers(response.headers, secrets),
        "body": mask_text(response.text, secrets),
        "truncated": response.truncated,
        "latency_ms": round(response.latency_ms, 1),
        "remote_address": response.remote_address,
    }


# --- resolving and connecting ---------------------------------------------------------

Resolver = Callable[[str, int], Sequence[str]]

# The end of the request being sent on this thread (time.monotonic()). Connections are
# pooled and shared, so the deadline travels with the calling thread, not the socket.
_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar(
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
    deadline = _deadline.get()
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


class _GuardedBackend(httpcore.NetworkBackend):
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


class _GuardedTransport(httpx.BaseTransport):
    """httpx transport over an httpcore pool that uses `_GuardedBackend` to connect.

    httpx's own HTTPTransport does not accept a network backend, hence this small
    transport. httpcore exceptions are not translated to httpx ones here: the client
    maps both families straight to `PartnerError`.
    """

    def __init__(self, *, ssl_context: ssl.SSLContext, backend: _GuardedBackend, limits: int):
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
        return httpx.Response(
            status_code=core_response.status,
            headers=core_response.headers,
            stream=_CoreResponseStream(core_response.stream),  # type: ignore[arg-type]
            extensions=core_response.extensions,
        )

    def close(self) -> None:
        self._pool.close()


# --- the client -----------------------------------------------------------------------


@dataclass
class OutboundClient:
    """Sends `PreparedRequest`s to partners; thread-safe, one connection pool.

    `allow_private_networks` turns the SSRF guard off (the Django side passes its
    OUTBOUND_ALLOW_PRIVATE_NETWORKS setting; tests and `make run` reach the demo partner
    on loopback). Odd IPv4 spellings are refused either way. `resolver` replaces DNS
    (tests use it to make a hostname resolve to 127.0.0.1). `ssl_context` replaces the
    default certificate store (tests trust their own CA).
    """

    allow_private_networks: bool = False
    resolver: Resolver = system_resolver
    connect_timeout: float = CONNECT_TIMEOUT
    read_timeout: float = READ_TIMEOUT
    write_timeout: float = WRITE_TIMEOUT
    deadline: float = REQUEST_DEADLINE
    max_response_bytes: int = MAX_RESPONSE_BYTES
    max_content_length: int = MAX_CONTENT_LENGTH
    max_connections: int = MAX_CONNECTIONS
    user_agent: str = USER_AGENT
    ssl_context: ssl.SSLContext | None = None
    _client: httpx.Client = field(init=False, repr=False)

    def __post_init__(self) -> None:
        backend = _GuardedBackend(
            resolver=self.resolver, allow_private_networks=self.allow_private_networks
        )
        transport = _GuardedTransport(
            ssl_context=self.ssl_context or _default_ssl_context(),
            backend=backend,
            limits=self.max_connections,
        )
        self._client = httpx.Client(
            transport=transport,
            follow_redirects=False,
            # No proxies or .netrc from the environment: a proxy would bypass the guard.
            trust_env=False,
            timeout=httpx.Timeout(
                connect=self.connect_timeout,
                read=self.read_timeout,
                write=self.write_timeout,
                pool=POOL_TIMEOUT,
            ),
            headers={
                "User-Agent": self.user_agent,
                # We keep at most 1 MiB and decode it ourselves with a bound; asking for
                # identity avoids decompression bombs from well-behaved servers.
                "Accept-Encoding": "identity",
            },
        )

    def __enter__(self) -> OutboundClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the pooled connections."""
        self._client.close()

    def send(
        self, request: PreparedRequest, *, signing_secret: str | None = None
    ) -> PartnerResponse:
        """Send one request once; return the 2xx response or raise `PartnerError`.

        Adds Idempotency-Key (when the request has a batch id and the partner's headers
        do not set one) and, with `signing_secret`, the signature header. Non-2xx
        answers raise kind `redirect` (3xx) or `http_status` with `permanent` from the
        platform's retry rules; the response is attached to the error.
        """
        secrets = request.secrets + ((signing_secret,) if signing_secret else ())
        try:
            return self._send(request, signing_secret, secrets)
        except PartnerError as error:
            logger.info(
                "%s %s failed: %s (%s)",
                request.method,
                scrub_url(request.url, secrets),
                error.kind,
                mask_text(error.message, secrets),
            )
            raise

    def _send(
        self, request: PreparedRequest, signing_secret: str | None, secrets: tuple[str, ...]
    ) -> PartnerResponse:
        url = self._checked_url(request)
        headers = self._headers_for(request, signing_secret)
        host = url.host
        port = url.port or (443 if url.scheme == "https" else 80)
        try:
            outgoing = self._client.build_request(
                request.method, url, headers=headers, content=request.body
            )
        except (httpx.HTTPError, httpx.InvalidURL, ValueError, TypeError) as exc:
            # Header values the compiler let through but HTTP cannot carry, say.
            raise PartnerError(
                "invalid_request", str(exc), permanent=True, request=request, info={"host": host}
            ) from None
        # Record the headers exactly as they go out (Host, Content-Length and the client's
        # defaults included), in their original case.
        sent = replace(request, headers=_header_pairs(outgoing.headers), secrets=secrets)
        started = time.monotonic()
        token = _deadline.set(started + self.deadline)
        try:
            try:
                raw = self._client.send(outgoing, stream=True)
            except PartnerError as exc:
                exc.request = sent
                raise
            except Exception as exc:
                raise self._error_from_exception(exc, sent, host, port) from None
            try:
                response = self._read(raw, sent, started, host, port)
            finally:
                raw.close()
        finally:
            _deadline.reset(token)
        self._log(sent, response)
        return self._check_status(response)

    def _checked_url(self, request: PreparedRequest) -> httpx.URL:
        try:
            url = httpx.URL(request.url)
        except (httpx.InvalidURL, ValueError, TypeError) as exc:
            raise PartnerError(
                "invalid_url", f"cannot parse the URL: {exc}", permanent=True, request=request
            ) from None
        if url.scheme not in ALLOWED_SCHEMES:
            raise PartnerError(
                "invalid_url",
                f"the URL scheme {url.scheme or '(none)'!r} is not allowed; use http or https",
                permanent=True,
                request=request,
            )
        if url.userinfo:
            # httpx would turn them into a Basic header behind the template's back, and
            # credentials in URLs end up in every log and history on the way.
            raise PartnerError(
                "invalid_url",
                "the URL contains credentials (user:password@); send them in a header",
                permanent=True,
                request=request,
            )
        try:
            url.host  # noqa: B018 - decodes an internationalised name, which may be invalid
        except (UnicodeError, ValueError) as exc:
            raise PartnerError(
                "invalid_url",
                f"the host name {url.raw_host.decode('ascii', 'replace')!r} is not a valid "
                f"internationalised domain name: {exc}",
                permanent=True,
                request=request,
            ) from None
        try:
            parse_ip_literal(url.raw_host.decode("ascii"))
        except PartnerError as exc:
            exc.request = request
            raise
        return url

    def _headers_for(
        self, request: PreparedRequest, signing_secret: str | None
    ) -> list[tuple[str, str]]:
        headers = [
            (name, value)
            for name, value in request.headers
            if name.lower() != signing.SIGNATURE_HEADER.lower()
        ]
        present = {name.lower() for name, _ in headers}
        if request.batch_id and IDEMPOTENCY_HEADER.lower() not in present:
            headers.append((IDEMPOTENCY_HEADER, request.batch_id))
        if signing_secret:
            headers.append((signing.SIGNATURE_HEADER, signing.sign(signing_secret, request.body)))
        return headers

    def _read(
        self,
        raw: httpx.Response,
        sent: PreparedRequest,
        started: float,
        host: str,
        port: int,
    ) -> PartnerResponse:
        stream = raw.extensions.get("network_stream")
        remote = stream.get_extra_info("checked_address") if stream is not None else None
        reason = raw.reason_phrase
        headers = _header_pairs(raw.headers)

        def make(body: bytes, truncated: bool) -> PartnerResponse:
            return PartnerResponse(
                status=raw.status_code,
                reason=reason,
                headers=headers,
                body=body,
                truncated=truncated,
                latency_ms=(time.monotonic() - started) * 1000,
                request=sent,
                remote_address=remote,
            )

        declared = raw.headers.get("content-length", "").strip()
        if declared.isascii() and declared.isdigit() and int(declared) > self.max_content_length:
            response = make(b"", True)
            raise PartnerError(
                "too_large",
                f"the response declares {declared} bytes (limit {self.max_content_length})",
                permanent=True,
                status=raw.status_code,
                response=response,
                request=sent,
                info={"host": host, "declared": int(declared), "limit": self.max_content_length},
            )
        chunks: list[bytes] = []
        size = 0
        truncated = False
        try:
            for chunk in raw.iter_raw():
                room = self.max_response_bytes - size
                if len(chunk) > room:
                    chunks.append(chunk[:room])
                    truncated = True
                    break
                chunks.append(chunk)
                size += len(chunk)
        except Exception as exc:
            raise self._error_from_exception(exc, sent, host, port) from None
        body = b"".join(chunks)
        encoding = raw.headers.get("content-encoding", "").strip().lower()
        if encoding in {"gzip", "x-gzip", "deflate"}:
            body, cut = _bounded_decompress(body, self.max_response_bytes)
            truncated = truncated or cut
        return make(body, truncated)

    def _check_status(self, response: PartnerResponse) -> PartnerResponse:
        status = response.status
        if 200 <= status <= 299:
            return response
        host = httpx.URL(response.request.url).host
        if 300 <= status <= 399:
            location = response.header("location")
            raise PartnerError(
                "redirect",
                f"{status} {response.reason}: redirect to {location or '(no Location)'}",
                permanent=True,
                status=status,
                response=response,
                request=response.request,
                info={"host": host, "location": location},
            )
        raise PartnerError(
            "http_status",
            f"{status} {response.reason}".strip(),
            permanent=not is_retryable_status(status),
            status=status,
            retry_after=parse_retry_after(response.header("retry-after")),
            response=response,
            request=response.request,
            info={"host": host},
        )

    def _error_from_exception(
        self, exc: Exception, sent: PreparedRequest, host: str, port: int
    ) -> PartnerError:
        """Map httpx/httpcore/socket exceptions to one `PartnerError` kind each."""
        if isinstance(exc, PartnerError):
            exc.request = sent
            return exc
        info: dict[str, Any] = {"host": host, "port": port}
        cause = exc.__cause__ or exc.__context__
        deadline = _deadline.get()
        if isinstance(exc, httpx.TimeoutException | httpcore.TimeoutException):
            if deadline is not None and time.monotonic() >= deadline - 0.01:
                info.update(phase="deadline", timeout=self.deadline)
                text = f"no complete response within the {self.deadline:g} s deadline"
            elif isinstance(exc, httpx.ConnectTimeout | httpcore.ConnectTimeout):
                info.update(phase="connect", timeout=self.connect_timeout)
                text = f"connecting took longer than {self.connect_timeout:g} s"
            elif isinstance(exc, httpx.PoolTimeout | httpcore.PoolTimeout):
                info.update(phase="pool", timeout=POOL_TIMEOUT)
                text = "no free connection in the pool"
            else:
                info.update(phase="read", timeout=self.read_timeout)
                text = f"no data for {self.read_timeout:g} s"
            return PartnerError("timeout", text, permanent=False, request=sent, info=info)
        if isinstance(cause, ssl.SSLCertVerificationError):
            return PartnerError(
                "tls_error",
                cause.verify_message or str(cause),
                permanent=True,
                request=sent,
                info=info,
            )
        if isinstance(cause, ssl.SSLEOFError | ssl.SSLZeroReturnError):
            return PartnerError(
                "connection_closed", str(cause), permanent=False, request=sent, info=info
            )
        if isinstance(cause, ssl.SSLError):
            return PartnerError(
                "tls_error", cause.reason or str(cause), permanent=True, request=sent, info=info
            )
        if isinstance(exc, httpx.ConnectError | httpcore.ConnectError):
            if isinstance(cause, ConnectionRefusedError) or (
                isinstance(cause, OSError) and cause.errno == errno.ECONNREFUSED
            ):
                return PartnerError(
                    "connection_refused",
                    f"connection to {host}:{port} refused",
                    permanent=False,
                    request=sent,
                    info=info,
                )
            return PartnerError(
                "connection_error",
                str(exc) or type(exc).__name__,
                permanent=False,
                request=sent,
                info=info,
            )
        if isinstance(
            exc,
            httpx.RemoteProtocolError
            | httpcore.RemoteProtocolError
            | httpx.ReadError
            | httpcore.ReadError
            | httpx.WriteError
            | httpcore.WriteError
            | ConnectionError,
        ):
            return PartnerError(
                "connection_closed",
                str(exc) or type(exc).__name__,
                permanent=False,
                request=sent,
                info=info,
            )
        if isinstance(exc, httpx.UnsupportedProtocol | httpcore.UnsupportedProtocol):
            return PartnerError("invalid_url", str(exc), permanent=True, request=sent, info=info)
        if isinstance(exc, httpx.HTTPError | httpcore.NetworkError | OSError):
            return PartnerError(
                "connection_error",
                str(exc) or type(exc).__name__,
                permanent=False,
                request=sent,
                info=info,
            )
        raise exc

    def _log(self, sent: PreparedRequest, response: PartnerResponse) -> None:
        logger.info(
            "%s %s -> %s in %.0f ms",
            sent.method,
            scrub_url(sent.url, sent.secrets),
            response.status,
            response.latency_ms,
        )


@functools.cache
def _default_ssl_context() -> ssl.SSLContext:
    """certifi's CA bundle, loaded once per process (loading it takes ~0.1 s).

    An SSLContext may be shared by connections on many threads once configured.
    """
    return httpx.create_ssl_context()


def _header_pairs(headers: httpx.Headers) -> tuple[tuple[str, str], ...]:
    return tuple((name.decode("latin-1"), value.decode("latin-1")) for name, value in headers.raw)


def _bounded_decompress(body: bytes, limit: int) -> tuple[bytes, bool]:
    """Decode a gzip or deflate body to at most `limit` bytes; (data, cut) or as-is."""
    # 47 = auto-detect gzip or zlib headers; -15 = raw deflate (some servers send it).
    for wbits in (47, -zlib.MAX_WBITS):
        decoder = zlib.decompressobj(wbits)
        try:
            data = decoder.decompress(body, limit)
        except zlib.error:
            continue
        return data, bool(decoder.unconsumed_tail)
    return body, False
