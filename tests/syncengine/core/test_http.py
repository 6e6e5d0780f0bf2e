"""The outbound client against real loopback servers: friendly, failing and hostile.

Friendly servers are pytest-httpserver; hostile ones (a response that never ends, a 5 GB
Content-Length, a server that accepts then closes...) are raw sockets driven by a small
script per connection, because no well-behaved HTTP server would do those things.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import logging
import socket
import ssl
import time
from collections.abc import Iterator

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from syncengine.core import signing
from syncengine.core.display import request_for_display, response_for_display
from syncengine.core.errors import PartnerError
from syncengine.core.http import MAX_RESPONSE_BYTES, USER_AGENT, OutboundClient
from syncengine.core.types import PreparedRequest
from tests.partners import RawServer, closed_port, raw_server, read_request_head

SECRET = "s3cret-token-value"


def make_request(url: str, **overrides) -> PreparedRequest:
    fields = {
        "endpoint": "add_users",
        "method": "POST",
        "url": url,
        "headers": (("Content-Type", "application/json"),),
        "body": b'{"userIds": ["alice", "bob"]}',
        "batch_id": None,
        "item_count": 2,
        "secrets": (),
    }
    fields.update(overrides)
    return PreparedRequest(**fields)


@pytest.fixture
def client() -> Iterator[OutboundClient]:
    # The guard is off here: these tests are about HTTP behaviour against loopback
    # servers. The guard has its own tests in test_ssrf.py.
    with OutboundClient(
        allow_private_networks=True, connect_timeout=2, read_timeout=2, deadline=3
    ) as outbound:
        yield outbound


# --- happy path ------------------------------------------------------------------------


def test_it_sends_the_request_and_records_the_response(client, httpserver: HTTPServer):
    httpserver.expect_request("/lists/1/add", method="POST").respond_with_json(
        {"ok": True}, status=200
    )
    request = make_request(httpserver.url_for("/lists/1/add"), batch_id="b-123")

    response = client.send(request)

    assert response.status == 200
    assert response.reason == "OK"
    assert response.json() == {"ok": True}
    assert response.truncated is False
    assert response.latency_ms > 0
    assert response.remote_address == "127.0.0.1"
    received, _ = httpserver.log[0]
    assert received.headers["User-Agent"] == USER_AGENT
    assert received.headers["Idempotency-Key"] == "b-123"
    assert received.get_data() == request.body
    # The recorded request is the one that went out, added headers included.
    sent = dict(response.request.headers)
    assert sent["Idempotency-Key"] == "b-123"
    assert sent["User-Agent"] == USER_AGENT


def test_it_adds_no_idempotency_key_without_a_batch_and_keeps_the_partners_own(
    client, httpserver: HTTPServer
):
    httpserver.expect_request("/x").respond_with_data("ok")
    client.send(make_request(httpserver.url_for("/x")))
    client.send(
        make_request(
            httpserver.url_for("/x"), batch_id="ours", headers=(("Idempotency-Key", "theirs"),)
        )
    )
    first, second = (entry[0] for entry in httpserver.log)
    assert "Idempotency-Key" not in first.headers
    assert second.headers.getlist("Idempotency-Key") == ["theirs"]


def test_it_sends_delete_with_a_body(client, httpserver: HTTPServer):
    httpserver.expect_request("/members", method="DELETE").respond_with_data("", status=204)
    response = client.send(make_request(httpserver.url_for("/members"), method="DELETE"))
    assert response.status == 204
    assert httpserver.log[0][0].get_data() == b'{"userIds": ["alice", "bob"]}'


def test_it_signs_the_body_when_given_a_secret(client, httpserver: HTTPServer):
    httpserver.expect_request("/x").respond_with_data("ok")
    client.send(make_request(httpserver.url_for("/x")), signing_secret="whsec_demo")
    received = httpserver.log[0][0]
    header = received.headers[signing.SIGNATURE_HEADER]
    signing.verify("whsec_demo", received.get_data(), header)  # raises if wrong


def test_a_partner_cannot_forge_the_signature_header(client, httpserver: HTTPServer):
    httpserver.expect_request("/x").respond_with_data("ok")
    forged = (("X-Signature", "t=1,v1=00"),)
    client.send(make_request(httpserver.url_for("/x"), headers=forged))
    client.send(make_request(httpserver.url_for("/x"), headers=forged), signing_secret="k")
    first, second = (entry[0] for entry in httpserver.log)
    assert "X-Signature" not in first.headers
    assert second.headers.getlist("X-Signature") != ["t=1,v1=00"]
    assert len(second.headers.getlist("X-Signature")) == 1


# --- statuses ---------------------------------------------------------------------------


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504, 599])
def test_retryable_statuses_raise_non_permanent_errors(client, httpserver: HTTPServer, status):
    httpserver.expect_request("/x").respond_with_data("nope", status=status)
    with pytest.raises(PartnerError) as caught:
        client.send(make_request(httpserver.url_for("/x")))
    assert caught.value.kind == "http_status"
    assert caught.value.status == status
    assert caught.value.permanent is False
    assert caught.value.response is not None
    assert caught.value.response.body == b"nope"


@pytest.mark.parametrize("status", [400, 401, 403, 404, 405, 409, 410, 413, 422, 501, 505])
def test_other_statuses_raise_permanent_errors(client, httpserver: HTTPServer, status):
    httpserver.expect_request("/x").respond_with_data("nope", status=status)
    with pytest.raises(PartnerError) as caught:
        client.send(make_request(httpserver.url_for("/x")))
    assert caught.value.kind == "http_status"
    assert caught.value.permanent is True


def test_retry_after_is_parsed_onto_the_error(client, httpserver: HTTPServer):
    httpserver.expect_request("/x").respond_with_data(
        "slow down", status=429, headers={"Retry-After": "7"}
    )
    with pytest.raises(PartnerError) as caught:
        client.send(make_request(httpserver.url_for("/x")))
    assert caught.value.retry_after == 7.0


# --- redirects --------------------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirects_are_not_followed(client, httpserver: HTTPServer, status):
    httpserver.expect_request("/old").respond_with_data(
        "", status=status, headers={"Location": "/new"}
    )
    httpserver.expect_request("/new").respond_with_data("should not be reached")
    with pytest.raises(PartnerError) as caught:
        client.send(make_request(httpserver.url_for("/old")))
    assert caught.value.kind == "redirect"
    assert caught.value.permanent is True
    assert caught.value.info["location"] == "/new"
    assert [entry[0].path for entry in httpserver.log] == ["/old"]


def test_a_redirect_loop_costs_one_request(client, httpserver: HTTPServer):
    httpserver.expect_request("/loop").respond_with_data(
        "", status=302, headers={"Location": httpserver.url_for("/loop")}
    )
    with pytest.raises(PartnerError) as caught:
        client.send(make_request(httpserver.url_for("/loop")))
    assert caught.value.kind == "redirect"
    assert len(httpserver.log) == 1


# --- bodies -----------------------------------------------------------------------------


def test_a_large_body_is_cut_at_one_mebibyte(client, httpserver: HTTPServer):
    httpserver.expect_request("/big").respond_with_data(b"a" * (MAX_RESPONSE_BYTES + 5000))
    response = client.send(make_request(httpserver.url_for("/big")))
    assert response.truncated is True
    assert len(response.body) == MAX_RESPONSE_BYTES


def test_a_body_of_exactly_the_cap_is_not_truncated(client, httpserver: HTTPServer):
    httpserver.expect_request("/edge").respond_with_data(b"a" * MAX_RESPONSE_BYTES)
    response = client.send(make_request(httpserver.url_for("/edge")))
    assert response.truncated is False
    assert len(response.body) == MAX_RESPONSE_BYTES


def test_a_huge_content_length_is_refused_without_reading():
    def five_gigabytes(conn: socket.socket) -> None:
        read_request_head(conn)
        conn.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            b"Content-Length: 5368709120\r\n\r\n" + b"x" * 1000
        )
        time.sleep(0.5)  # would keep "sending" for ever; the client must not wait

    with (
        raw_server(five_gigabytes) as server,
        OutboundClient(allow_private_networks=True, deadline=5) as outbound,
    ):
        started = time.monotonic()
        with pytest.raises(PartnerError) as caught:
            outbound.send(make_request(f"http://127.0.0.1:{server.port}/"))
        assert time.monotonic() - started < 1
    assert caught.value.kind == "too_large"
    assert caught.value.permanent is True
    assert caught.value.info["declared"] == 5368709120


def test_a_response_that_never_ends_is_cut_at_the_deadline():
    def trickle(conn: socket.socket) -> None:
        read_request_head(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        for _ in range(200):  # bounded: 10 s at most, far past the client's deadline
            conn.sendall(b"1\r\nx\r\n")
            time.sleep(0.05)

    with (
        raw_server(trickle) as server,
        OutboundClient(allow_private_networks=True, read_timeout=1, deadline=0.6) as outbound,
    ):
        started = time.monotonic()
        with pytest.raises(PartnerError) as caught:
            outbound.send(make_request(f"http://127.0.0.1:{server.port}/"))
        elapsed = time.monotonic() - started
    assert caught.value.kind == "timeout"
    assert caught.value.info["phase"] == "deadline"
    assert caught.value.permanent is False
    assert 0.5 < elapsed < 1.5


def test_headers_trickling_in_are_cut_at_the_deadline_too():
    def slow_headers(conn: socket.socket) -> None:
        read_request_head(conn)
        for _ in range(100):
            conn.sendall(b"X")
            time.sleep(0.05)

    with (
        raw_server(slow_headers) as server,
        OutboundClient(allow_private_networks=True, read_timeout=1, deadline=0.5) as outbound,
    ):
        started = time.monotonic()
        with pytest.raises(PartnerError) as caught:
            outbound.send(make_request(f"http://127.0.0.1:{server.port}/"))
        assert time.monotonic() - started < 1.5
    assert caught.value.kind == "timeout"


def test_a_silent_server_hits_the_read_timeout():
    def silent(conn: socket.socket) -> None:
        read_request_head(conn)
        time.sleep(0.6)

    with (
        raw_server(silent) as server,
        OutboundClient(allow_private_networks=True, read_timeout=0.3, deadline=5) as outbound,
        pytest.raises(PartnerError) as caught,
    ):
        outbound.send(make_request(f"http://127.0.0.1:{server.port}/"))
    assert caught.value.kind == "timeout"
    assert caught.value.info["phase"] == "read"


def test_invalid_utf8_is_shown_with_replacement_characters(client, httpserver: HTTPServer):
    httpserver.expect_request("/bad").respond_with_data(b'{"name": "caf\xe9 \xff"}')
    response = client.send(make_request(httpserver.url_for("/bad")))
    assert response.body == b'{"name": "caf\xe9 \xff"}'
    assert response.text == '{"name": "caf\ufffd \ufffd"}'
    assert "\ufffd" in response_for_display(response, ())["body"]


def test_a_gzip_body_is_decoded(client, httpserver: HTTPServer):
    httpserver.expect_request("/gz").respond_with_data(
        gzip.compress(b'{"data": {"id": "lst_1"}}'), headers={"Content-Encoding": "gzip"}
    )
    response = client.send(make_request(httpserver.url_for("/gz")))
    assert response.json() == {"data": {"id": "lst_1"}}


def test_a_gzip_bomb_is_decoded_only_up_to_the_cap(client, httpserver: HTTPServer):
    bomb = gzip.compress(b"\0" * (50 * MAX_RESPONSE_BYTES))
    assert len(bomb) < MAX_RESPONSE_BYTES
    httpserver.expect_request("/bomb").respond_with_data(bomb, headers={"Content-Encoding": "gzip"})
    response = client.send(make_request(httpserver.url_for("/bomb")))
    assert len(response.body) == MAX_RESPONSE_BYTES
    assert response.truncated is True


def test_non_json_is_a_non_json_error(client, httpserver: HTTPServer):
    httpserver.expect_request("/html").respond_with_data("<html>hi</html>")
    response = client.send(make_request(httpserver.url_for("/html")))
    with pytest.raises(PartnerError) as caught:
        response.json()
    assert caught.value.kind == "non_json"
    assert "<html>hi</html>" in caught.value.message


# --- connection failures ----------------------------------------------------------------


def test_a_server_that_accepts_then_closes_is_a_closed_connection():
    def hang_up(conn: socket.socket) -> None:
        read_request_head(conn)

    with (
        raw_server(hang_up) as server,
        OutboundClient(allow_private_networks=True, deadline=5) as outbound,
        pytest.raises(PartnerError) as caught,
    ):
        outbound.send(make_request(f"http://127.0.0.1:{server.port}/"))
    assert caught.value.kind == "connection_closed"
    assert caught.value.permanent is False


def test_a_closed_port_is_connection_refused(client):
    port = closed_port()
    with pytest.raises(PartnerError) as caught:
        client.send(make_request(f"http://127.0.0.1:{port}/"))
    assert caught.value.kind == "connection_refused"
    assert caught.value.permanent is False
    assert caught.value.request is not None


def test_an_unknown_host_name_is_a_permanent_dns_failure():
    def nxdomain(host: str, port: int) -> list[str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    with (
        OutboundClient(allow_private_networks=True, resolver=nxdomain) as outbound,
        pytest.raises(PartnerError) as caught,
    ):
        outbound.send(make_request("https://no-such-partner.test/x"))
    assert caught.value.kind == "dns_failure"
    assert caught.value.permanent is True


def test_a_temporary_dns_failure_is_retryable():
    def flaky(host: str, port: int) -> list[str]:
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    with (
        OutboundClient(allow_private_networks=True, resolver=flaky) as outbound,
        pytest.raises(PartnerError) as caught,
    ):
        outbound.send(make_request("https://partner.test/x"))
    assert caught.value.kind == "dns_failure"
    assert caught.value.permanent is False


@pytest.mark.parametrize(
    "url",
    ["ftp://partner.test/x", "file:///etc/passwd", "gopher://partner.test/", "http:///nohost"],
)
def test_only_http_and_https_urls_are_sent(client, url):
    with pytest.raises(PartnerError) as caught:
        client.send(make_request(url))
    assert caught.value.kind == "invalid_url"
    assert caught.value.permanent is True


def test_a_host_name_that_is_not_valid_idna_is_a_partner_error(client):
    with pytest.raises(PartnerError) as caught:
        client.send(make_request("http://xn--localhost:9/lists"))
    assert (caught.value.kind, caught.value.permanent) == ("invalid_url", True)
    assert "'xn--localhost' is not a valid internationalised domain name" in caught.value.message


def test_a_header_value_http_cannot_carry_is_refused(client, httpserver: HTTPServer):
    with pytest.raises(PartnerError) as caught:
        client.send(make_request(httpserver.url_for("/x"), headers=(("X-Name", "日本"),)))
    assert caught.value.kind == "invalid_request"


# --- TLS: SNI and certificate checked against the hostname, connection to the checked IP --


@pytest.fixture(scope="module")
def tls_material(tmp_path_factory) -> dict[str, str]:
    """A throwaway CA and a certificate for partner.test signed by it."""
    directory = tmp_path_factory.mktemp("tls")
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "partner.test")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("partner.test")]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = {
        "ca": str(directory / "ca.pem"),
        "cert": str(directory / "cert.pem"),
        "key": str(directory / "key.pem"),
    }
    with open(paths["ca"], "wb") as handle:
        handle.write(ca_cert.public_bytes(serialization.Encoding.PEM))
    with open(paths["cert"], "wb") as handle:
        handle.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(paths["key"], "wb") as handle:
        handle.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    return paths


@pytest.fixture
def tls_server(tls_material) -> Iterator[tuple[RawServer, list[str]]]:
    """An HTTPS server on 127.0.0.1 recording the SNI name of each handshake."""
    server_names: list[str] = []
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tls_material["cert"], tls_material["key"])
    context.sni_callback = lambda sock, name, ctx: server_names.append(name)

    def https(conn: socket.socket) -> None:
        conn.settimeout(2)
        with context.wrap_socket(conn, server_side=True) as tls:
            head = read_request_head(tls)
            host = [
                line.split(b":", 1)[1].strip()
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"host:")
            ]
            body = json.dumps({"host": host[0].decode() if host else None}).encode()
            tls.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                + body
            )

    with raw_server(https) as server:
        yield server, server_names


def test_tls_uses_the_hostname_for_sni_certificate_and_host_header(tls_material, tls_server):
    server, server_names = tls_server
    lookups: list[str] = []

    def to_loopback(host: str, port: int) -> list[str]:
        lookups.append(host)
        return ["127.0.0.1"]

    trust = ssl.create_default_context(cafile=tls_material["ca"])
    with OutboundClient(
        allow_private_networks=True, resolver=to_loopback, ssl_context=trust
    ) as outbound:
        response = outbound.send(make_request(f"https://partner.test:{server.port}/v1"))

    assert response.status == 200
    assert response.json() == {"host": f"partner.test:{server.port}"}
    assert server_names == ["partner.test"]
    assert lookups == ["partner.test"]
    assert response.remote_address == "127.0.0.1"


def test_a_certificate_for_another_name_is_a_tls_error(tls_material, tls_server):
    server, _ = tls_server
    trust = ssl.create_default_context(cafile=tls_material["ca"])
    with (
        OutboundClient(
            allow_private_networks=True,
            resolver=lambda host, port: ["127.0.0.1"],
            ssl_context=trust,
        ) as outbound,
        pytest.raises(PartnerError) as caught,
    ):
        outbound.send(make_request(f"https://other.test:{server.port}/v1"))
    assert caught.value.kind == "tls_error"
    assert caught.value.permanent is True
    assert "other.test" in caught.value.message


def test_an_untrusted_certificate_is_a_tls_error(tls_server):
    server, _ = tls_server
    with (
        OutboundClient(
            allow_private_networks=True, resolver=lambda host, port: ["127.0.0.1"]
        ) as outbound,
        pytest.raises(PartnerError) as caught,
    ):
        outbound.send(make_request(f"https://partner.test:{server.port}/v1"))
    assert caught.value.kind == "tls_error"


def test_tls_to_a_plain_http_port_is_a_tls_error(client, httpserver: HTTPServer):
    httpserver.expect_request("/x").respond_with_data("ok")
    with pytest.raises(PartnerError) as caught:
        client.send(make_request(f"https://127.0.0.1:{httpserver.port}/x"))
    assert caught.value.kind in {"tls_error", "connection_closed"}


# --- secrets never reach anything shown or logged ---------------------------------------


def test_secrets_are_absent_from_every_display_record(client, httpserver: HTTPServer, caplog):
    def echo(request: Request) -> Response:
        # A careless partner echoing the credential back in its body and headers.
        return Response(
            json.dumps({"you_sent": request.headers.get("Authorization")}),
            status=401,
            headers={"X-Debug-Token": SECRET},
            content_type="application/json",
        )

    httpserver.expect_request("/x").respond_with_handler(echo)
    request = make_request(
        httpserver.url_for("/x") + f"?api_key={SECRET}",
        headers=(("Authorization", f"Bearer {SECRET}"), ("X-Extra", f"key={SECRET}")),
        body=json.dumps({"token": SECRET, "userIds": ["a"]}).encode(),
        secrets=(SECRET,),
    )
    caplog.set_level(logging.DEBUG)
    with pytest.raises(PartnerError) as caught:
        client.send(request)

    error = caught.value
    shown = json.dumps(
        [
            request_for_display(error.request),
            response_for_display(error.response, error.request.secrets),
        ],
        ensure_ascii=False,
    )
    assert SECRET not in shown
    assert "Bearer ••••••" in shown
    # Our own records only: the test server (werkzeug) logs the raw URL it received.
    ours = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("werkzeug"))
    assert "localhost" in ours
    assert SECRET not in ours
    # The real request did carry the secret: masking is for display only.
    assert httpserver.log[0][0].headers["Authorization"] == f"Bearer {SECRET}"


def test_the_signing_secret_is_masked_too(client, httpserver: HTTPServer):
    httpserver.expect_request("/x").respond_with_data("whsec_topsecret")
    response = client.send(make_request(httpserver.url_for("/x")), signing_secret="whsec_topsecret")
    shown = json.dumps(response_for_display(response, response.request.secrets))
    assert "whsec_topsecret" not in shown


def test_credentials_in_the_url_are_refused(client, httpserver: HTTPServer):
    url = httpserver.url_for("/x").replace("http://", "http://user:pw@")
    with pytest.raises(PartnerError) as caught:
        client.send(make_request(url))
    assert caught.value.kind == "invalid_url"
    assert len(httpserver.log) == 0


def test_the_pool_reuses_connections_across_requests(partner):
    lookups: list[str] = []

    def resolver(host: str, port: int) -> list[str]:
        lookups.append(host)
        return ["127.0.0.1"]

    # The demo partner speaks HTTP/1.1 with keep-alive (werkzeug's test server closes).
    with OutboundClient(allow_private_networks=True, resolver=resolver) as outbound:
        for _ in range(5):
            outbound.send(make_request(f"http://pooled.test:{partner.port}/healthz", method="GET"))
    # One resolution for one connection: the pool kept it alive for the other four.
    assert lookups == ["pooled.test"]
