"""Plain-language diagnoses, produced from real failures against loopback servers."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from syncengine.core.diagnosis import diagnose, match_classification, read_sub_code
from syncengine.core.errors import PartnerError
from syncengine.core.http import MAX_CONTENT_LENGTH, OutboundClient
from syncengine.core.types import PreparedRequest
from tests.partners import closed_port, raw_server, read_request_head

AUTH_CLASSIFICATION = {
    "status": 401,
    "sub_code": "E_AUTH",
    "sub_code_path": "error.code",
    "reason": "Unauthorized",
    "message": "Check your API key",
    "action": "fail",
}


def request(url: str, method: str = "POST") -> PreparedRequest:
    return PreparedRequest(
        endpoint="add_users",
        method=method,
        url=url,
        headers=(("Content-Type", "application/json"),),
        body=b'{"userIds": ["a"]}',
    )


@pytest.fixture
def client() -> Iterator[OutboundClient]:
    with OutboundClient(allow_private_networks=True, read_timeout=1, deadline=2) as outbound:
        yield outbound


def failure(client: OutboundClient, url: str, method: str = "POST") -> PartnerError:
    with pytest.raises(PartnerError) as caught:
        client.send(request(url, method))
    return caught.value


# --- bad statuses ---------------------------------------------------------------------


def test_the_demo_partners_401_gets_the_classified_message(client, partner):
    error = failure(client, f"{partner.url}/v1/lists")
    verdict = diagnose(error, [AUTH_CLASSIFICATION])
    assert verdict.classified is True
    assert verdict.message == "Check your API key"
    assert verdict.title == "401 Unauthorized"
    assert verdict.action == "fail"
    assert verdict.sub_code == "E_AUTH"


def test_an_unclassified_status_names_the_status_and_reason(client, httpserver: HTTPServer):
    httpserver.expect_request("/x").respond_with_data("no such thing", status=404)
    verdict = diagnose(failure(client, httpserver.url_for("/x")))
    assert verdict.classified is False
    assert verdict.title == "404 NOT FOUND"  # the reason phrase the server sent
    assert verdict.message.startswith("The partner answered 404 NOT FOUND.")
    assert "check the path" in verdict.message
    assert "no such thing" in verdict.message
    assert verdict.action == "fail"


def test_an_unclassified_5xx_will_be_retried(client, httpserver: HTTPServer):
    httpserver.expect_request("/x").respond_with_data("", status=502)
    verdict = diagnose(failure(client, httpserver.url_for("/x")))
    assert verdict.action == "retry"
    # Whether it was retried is the attempt's to say (outcome): the message never promises.
    assert "a temporary failure" in verdict.message
    assert "will be retried" not in verdict.message


def test_a_sub_code_classification_beats_a_status_only_one_whatever_the_order(
    client, httpserver: HTTPServer
):
    httpserver.expect_request("/x").respond_with_json({"error": {"code": "E_RATE"}}, status=400)
    error = failure(client, httpserver.url_for("/x"))
    generic = {"status": 400, "message": "Bad request", "action": "fail"}
    specific = {
        "status": 400,
        "sub_code": "E_RATE",
        "sub_code_path": "error.code",
        "message": "Rate limited",
        "action": "retry",
    }
    for order in ([generic, specific], [specific, generic]):
        verdict = diagnose(error, order)
        assert verdict.message == "Rate limited"
        assert verdict.action == "retry"


def test_a_different_sub_code_falls_back_to_the_status_only_classification(
    client, httpserver: HTTPServer
):
    httpserver.expect_request("/x").respond_with_json({"error": {"code": "E_OTHER"}}, status=401)
    generic = {"status": 401, "message": "Credentials refused", "action": "fail"}
    verdict = diagnose(failure(client, httpserver.url_for("/x")), [AUTH_CLASSIFICATION, generic])
    assert verdict.message == "Credentials refused"
    assert verdict.sub_code is None


def test_a_non_json_body_matches_only_status_only_classifications(client, httpserver: HTTPServer):
    httpserver.expect_request("/x").respond_with_data("<html>401</html>", status=401)
    error = failure(client, httpserver.url_for("/x"))
    assert diagnose(error, [AUTH_CLASSIFICATION]).classified is False


def test_classifications_for_another_status_do_not_apply(client, httpserver: HTTPServer):
    httpserver.expect_request("/x").respond_with_data("", status=403)
    verdict = diagnose(failure(client, httpserver.url_for("/x")), [AUTH_CLASSIFICATION])
    assert verdict.classified is False
    assert "permission" in verdict.message


def test_a_status_written_as_text_still_matches(client, httpserver: HTTPServer):
    httpserver.expect_request("/x").respond_with_data("", status=409)
    verdict = diagnose(
        failure(client, httpserver.url_for("/x")),
        [{"status": "409", "action": "ignore", "message": "Already there"}],
    )
    assert verdict.action == "ignore"


def test_an_unknown_action_keeps_the_default(client, httpserver: HTTPServer):
    httpserver.expect_request("/x").respond_with_data("", status=503)
    verdict = diagnose(
        failure(client, httpserver.url_for("/x")),
        [{"status": 503, "action": "explode", "message": "Down"}],
    )
    assert verdict.action == "retry"
    assert verdict.message == "Down"


def test_read_sub_code():
    assert read_sub_code(b'{"errors": [{"code": 42}]}', "errors.0.code") == "42"
    assert read_sub_code(b'{"ok": true}', "ok") == "true"
    assert read_sub_code(b'{"e": {"x": 1}}', "e") is None
    assert read_sub_code(b"not json", "e") is None
    assert read_sub_code(b'{"e": 1}', "bad..path") is None


def test_match_classification_returns_the_matched_sub_code():
    entry, sub_code = match_classification(
        401, b'{"error": {"code": "E_AUTH"}}', [AUTH_CLASSIFICATION]
    )
    assert entry is AUTH_CLASSIFICATION
    assert sub_code == "E_AUTH"


def test_a_status_written_as_text_matches_only_with_ascii_digits():
    assert match_classification(500, b"", [{"status": "500"}])[0] == {"status": "500"}
    # "²" and "٥" pass str.isdigit(); neither is a status, and neither may crash the run.
    assert match_classification(500, b"", [{"status": "²"}, {"status": "٥٠٠"}]) == (None, None)


# --- every other kind has its own message ---------------------------------------------


def test_connection_refused(client):
    port = closed_port()
    verdict = diagnose(failure(client, f"http://127.0.0.1:{port}/"))
    assert verdict.title == "Connection refused"
    assert f"127.0.0.1:{port}" in verdict.message
    assert verdict.action == "retry"


def test_dns_failure():
    def nxdomain(host, port):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    with OutboundClient(resolver=nxdomain) as outbound:
        verdict = diagnose(failure(outbound, "https://api.acme-typo.test/x"))
    assert verdict.title == "Host not found"
    assert "api.acme-typo.test" in verdict.message
    assert verdict.action == "fail"


def test_redirect_names_the_location(client, httpserver: HTTPServer):
    httpserver.expect_request("/x").respond_with_data(
        "", status=301, headers={"Location": "https://api.acme.test/v2/x"}
    )
    verdict = diagnose(failure(client, httpserver.url_for("/x")))
    assert verdict.title == "Redirect (301)"
    assert "https://api.acme.test/v2/x" in verdict.message
    assert "not followed" in verdict.message


def test_blocked_address():
    with OutboundClient(resolver=lambda host, port: ["10.1.2.3"]) as outbound:
        verdict = diagnose(failure(outbound, "https://intranet.acme.test/"))
    assert verdict.title == "Address not allowed"
    assert "intranet.acme.test resolves to 10.1.2.3, a private address" in verdict.message


def test_blocked_literal_address():
    with OutboundClient() as outbound:
        verdict = diagnose(failure(outbound, "http://169.254.169.254/latest"))
    assert "169.254.169.254 is a cloud metadata service address" in verdict.message


def test_timeout(httpserver: HTTPServer):
    def slow(request: Request) -> Response:
        time.sleep(0.5)
        return Response("late")

    httpserver.expect_request("/x").respond_with_handler(slow)
    with OutboundClient(allow_private_networks=True, read_timeout=0.1, deadline=2) as outbound:
        verdict = diagnose(failure(outbound, httpserver.url_for("/x")))
    assert verdict.title == "Timed out"
    assert "0.1 s" in verdict.message
    assert verdict.action == "retry"


def test_too_large():
    def huge(conn: socket.socket) -> None:
        read_request_head(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n")

    with (
        raw_server(huge) as server,
        OutboundClient(allow_private_networks=True, deadline=2) as outbound,
    ):
        verdict = diagnose(failure(outbound, f"{server.url}/", method="GET"))
    assert verdict.title == "Response too large"
    assert "99999999999" in verdict.message
    assert str(MAX_CONTENT_LENGTH) in verdict.message


def test_non_json(client, httpserver: HTTPServer):
    httpserver.expect_request("/x").respond_with_data("<html>created</html>", status=201)
    response = client.send(request(httpserver.url_for("/x")))
    with pytest.raises(PartnerError) as caught:
        response.json()
    verdict = diagnose(caught.value)
    assert verdict.title == "Response is not JSON"
    assert "<html>created</html>" in verdict.message


def test_invalid_url(client):
    verdict = diagnose(failure(client, "ftp://partner.test/x"))
    assert verdict.title == "Invalid URL"
    assert "'ftp'" in verdict.message


def test_tls_error_to_a_plain_port(client, httpserver: HTTPServer):
    httpserver.expect_request("/x").respond_with_data("ok")
    verdict = diagnose(failure(client, f"https://127.0.0.1:{httpserver.port}/x"))
    assert verdict.title in {"Secure connection failed", "Connection closed"}


def test_display_masks_secrets_echoed_in_a_message(client, httpserver: HTTPServer):
    httpserver.expect_request("/x").respond_with_data("token tok-9f3a2b71 revoked", status=401)
    verdict = diagnose(failure(client, httpserver.url_for("/x")))
    shown = verdict.for_display(["tok-9f3a2b71"])
    assert "tok-9f3a2b71" not in repr(shown)
    assert shown["status"] == 401
