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
  blocked ranges, and the connection goes to an address that was checked (`transport`
  holds the guard and the connection pool it plugs into).

Failures are one exception family, `PartnerError` (in `errors`); `diagnosis` turns them
into plain language and `retry` decides what to do about them. What is logged or shown
of a request goes through `display`, which masks secrets and scrubs URLs.
"""

from __future__ import annotations

import errno
import functools
import logging
import ssl
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import httpcore
import httpx

from syncengine.core import signing
from syncengine.core.display import MAX_DISPLAY_BODY_BYTES, scrub_url
from syncengine.core.errors import (
    PartnerError,
    PartnerResponse,
    is_retryable_status,
    parse_retry_after,
)
from syncengine.core.masking import mask_text
from syncengine.core.transport import (
    GuardedBackend,
    GuardedTransport,
    Resolver,
    current_deadline,
    parse_ip_literal,
    system_resolver,
)
from syncengine.core.types import PreparedRequest

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
# What is kept of a response is what can be shown of one.
MAX_RESPONSE_BYTES = MAX_DISPLAY_BODY_BYTES
# A Content-Length above this is refused without reading: no partner answer to a sync
# call is legitimately this large, and we would keep only the first MiB anyway.
MAX_CONTENT_LENGTH = 10 * 1024 * 1024
MAX_CONNECTIONS = 16
USER_AGENT = "CohortPortal/1.0 (+https://cohort-portal.example/docs/partners/requests)"
IDEMPOTENCY_HEADER = "Idempotency-Key"
ALLOWED_SCHEMES = frozenset({"http", "https"})


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
        backend = GuardedBackend(
            resolver=self.resolver, allow_private_networks=self.allow_private_networks
        )
        transport = GuardedTransport(
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
        self,
        request: PreparedRequest,
        *,
        signing_secret: str | None = None,
        before_sending: Callable[[PreparedRequest], None] | None = None,
    ) -> PartnerResponse:
        """Send one request once; return the 2xx response or raise `PartnerError`.

        Adds Idempotency-Key (when the request has a batch id and the partner's headers
        do not set one) and, with `signing_secret`, the signature header. Non-2xx
        answers raise kind `redirect` (3xx) or `http_status` with `permanent` from the
        platform's retry rules; the response is attached to the error.

        `before_sending` is called with the request exactly as it goes out (every header
        included) once it is built and checked, just before its first byte is sent: what
        it raises stops the request. A request that fails before (a URL refused, a header
        HTTP cannot carry) never calls it.
        """
        secrets = request.secrets + (
            tuple(str(key) for key in signing.signing_secrets(signing_secret))
            if signing_secret
            else ()
        )
        try:
            return self._send(request, signing_secret, secrets, before_sending)
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
        self,
        request: PreparedRequest,
        signing_secret: str | None,
        secrets: tuple[str, ...],
        before_sending: Callable[[PreparedRequest], None] | None,
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
        if before_sending is not None:
            before_sending(sent)
        started = time.monotonic()
        token = current_deadline.set(started + self.deadline)
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
            current_deadline.reset(token)
        self._log(sent, response)
        return self._check_status(response)

    def _checked_url(self, request: PreparedRequest) -> httpx.URL:
        try:
            return _partner_url(request.url)
        except PartnerError as exc:
            exc.request = request
            raise

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
        deadline = current_deadline.get()
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


@functools.lru_cache(maxsize=256)
def _partner_url(text: str) -> httpx.URL:
    """The URL a request goes to, parsed and checked (scheme, credentials, host) once per
    distinct URL: a sync's or a test's requests go to a handful of URLs, and parsing one
    costs about as much as a tenth of its loopback exchange. An `httpx.URL` cannot be
    changed, so every caller may share it; a refusal is raised anew each time (a raised
    call is not kept)."""
    try:
        url = httpx.URL(text)
    except (httpx.InvalidURL, ValueError, TypeError) as exc:
        raise PartnerError("invalid_url", f"cannot parse the URL: {exc}", permanent=True) from None
    if url.scheme not in ALLOWED_SCHEMES:
        raise PartnerError(
            "invalid_url",
            f"the URL scheme {url.scheme or '(none)'!r} is not allowed; use http or https",
            permanent=True,
        )
    if url.userinfo:
        # httpx would turn them into a Basic header behind the template's back, and
        # credentials in URLs end up in every log and history on the way.
        raise PartnerError(
            "invalid_url",
            "the URL contains credentials (user:password@); send them in a header",
            permanent=True,
        )
    try:
        url.host  # noqa: B018 - decodes an internationalised name, which may be invalid
    except (UnicodeError, ValueError) as exc:
        raise PartnerError(
            "invalid_url",
            f"the host name {url.raw_host.decode('ascii', 'replace')!r} is not a valid "
            f"internationalised domain name: {exc}",
            permanent=True,
        ) from None
    parse_ip_literal(url.raw_host.decode("ascii"))
    return url


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
