"""The demo partner: a small real HTTP service that behaves like a partner's API.

`make run` starts it (`python -m demo_partner --host 127.0.0.1 --port 8765`) so that
integrations can be tested end to end on a fresh machine, and the test suite starts it
on port 0 in a thread (`DemoPartner().start()`).

API (all JSON; auth `Authorization: Bearer demo-token`, `X-API-Key: demo-key` or Basic
with user `demo-key`; errors look like ``{"error": {"code": "E_AUTH", "message": ...}}``):

- ``POST /v1/lists`` ``{"name": ...}`` -> 201 ``{"data": {"id": "lst_…", "name": …}}``
- ``POST /v1/lists/{id}/members`` adds, ``DELETE /v1/lists/{id}/members`` removes
  (also ``POST /v1/lists/{id}/add`` and ``.../remove``); body shapes: see `api`
- ``GET /v1/lists``, ``GET /v1/lists/{id}``, ``GET /v1/lists/{id}/members``
- ``POST /v1/users/properties`` (also PUT/PATCH): items with an ``in_cohort`` flag
- a repeated ``Idempotency-Key`` with the same request replays the first 2xx response
  (header ``Idempotent-Replayed: true``) without applying it again; with a different
  request it is refused with 422 ``E_IDEMPOTENCY_MISMATCH``
- with a signing secret configured, ``X-Signature`` is verified as the partner docs say
  (`signature`; 401 ``E_SIGNATURE``)

Control (no auth; the service is meant for loopback): ``GET /`` an HTML page of recent
requests, lists and fault switches; ``POST /_faults`` (JSON or form: ``fail_next``,
``status``, ``retry_after``, ``delay_ms``; a JSON object is read as JSON whatever its
Content-Type); ``GET /_log`` (JSON; ``?members=1`` adds list
members); ``POST /_reset``.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
import secrets
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from demo_partner import api
from demo_partner.credentials import DEMO_API_KEY, DEMO_TOKEN
from demo_partner.page import STYLESHEET, render_page
from demo_partner.signature import SIGNATURE_HEADER, signature_problem
from demo_partner.state import (
    MAX_FAULT_DELAY_MS,
    MAX_LOGGED_BODY_CHARS,
    PartnerState,
    StoredResponse,
    fingerprint,
    masked_headers,
)

logger = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 64 * 1024 * 1024
MAX_FAULT_COUNT = 1000
MAX_RETRY_AFTER_CHARS = 64

_LIST_PATH = re.compile(r"/v1/lists/(?P<id>[^/]+)(?P<rest>/members|/members/remove|/add|/remove)?")


class ApiError(Exception):
    """An error answer: status, machine code and human message."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # Many concurrent connections from the sync workers and the bench.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], partner: DemoPartner):
        self.partner = partner
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.1 keeps connections alive between batches, as a real partner API would.
    protocol_version = "HTTP/1.1"
    # Headers and body leave in two writes; with Nagle on, the second waits for the
    # client's delayed ACK (40 ms per response on Linux).
    disable_nagle_algorithm = True
    server_version = "DemoPartner/1.0"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s " + format, self.address_string(), *args)

    # --- dispatch --------------------------------------------------------------------

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        partner = self.server.partner
        path = urlsplit(self.path).path
        try:
            body = self._read_body()
        except ApiError as error:
            self.close_connection = True
            self._send_json(error.status, _error_body(error))
            return
        if path.startswith("/v1/"):
            self._handle_api(partner, path, body)
        elif path == "/" and self.command == "GET":
            self._send(200, render_page(partner.state), "text/html; charset=utf-8", page=True)
        elif path == "/style.css" and self.command == "GET":
            self._send(200, STYLESHEET, "text/css; charset=utf-8")
        elif path == "/_log" and self.command == "GET":
            with_members = parse_qs(urlsplit(self.path).query).get("members") == ["1"]
            self._send_json(200, partner.snapshot(with_members=with_members))
        elif path == "/_faults" and self.command == "POST":
            self._handle_faults(partner, body)
        elif path == "/_reset" and self.command == "POST":
            partner.state.reset()
            if self._is_form():
                self._redirect_home()
            else:
                self._send_json(200, {"reset": True})
        elif path == "/healthz":
            self._send_json(200, {"ok": True})
        else:
            self._send_json(404, _error_body(ApiError(404, "E_NOT_FOUND", "no such page")))

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding"):
            raise ApiError(411, "E_LENGTH_REQUIRED", "send a Content-Length, not chunks")
        length_text = self.headers.get("Content-Length", "0").strip() or "0"
        if not length_text.isdigit():
            raise ApiError(400, "E_BAD_REQUEST", "invalid Content-Length")
        length = int(length_text)
        if length > MAX_REQUEST_BYTES:
            raise ApiError(413, "E_TOO_LARGE", f"bodies are limited to {MAX_REQUEST_BYTES} bytes")
        return self.rfile.read(length) if length else b""

    # --- the partner API -------------------------------------------------------------

    def _handle_api(self, partner: DemoPartner, path: str, body: bytes) -> None:
        started = time.monotonic()
        entry: dict[str, Any] = {
            "time": time.time(),
            "method": self.command,
            "path": path,
            "query": urlsplit(self.path).query,
            "headers": masked_headers(self.headers.items()),
            "body": body[:MAX_LOGGED_BODY_CHARS].decode("utf-8", errors="replace"),
            "body_bytes": len(body),
            "item_count": None,
            "idempotency_key": self.headers.get("Idempotency-Key"),
            "replayed": False,
            "signature": None,
            "fault": False,
        }
        extra: dict[str, str] = {}
        status, reply = self._answer_api(partner, path, body, entry, extra)
        entry["status"] = status
        entry["duration_ms"] = round((time.monotonic() - started) * 1000, 1)
        partner.state.record(entry)
        self._send_json(status, reply, extra)

    def _answer_api(
        self,
        partner: DemoPartner,
        path: str,
        body: bytes,
        entry: dict[str, Any],
        extra: dict[str, str],
    ) -> tuple[int, Any]:
        fault_status, retry_after, delay_ms = partner.state.take_fault()
        if delay_ms:
            time.sleep(delay_ms / 1000)
        if fault_status is not None:
            entry["fault"] = True
            if retry_after:
                extra["Retry-After"] = retry_after
            phrase = _phrase(fault_status)
            return fault_status, _error_body(
                ApiError(fault_status, "E_FAULT", f"injected {phrase}")
            )
        try:
            self._check_auth(partner)
            entry["signature"] = self._check_signature(partner, body)
            key = self.headers.get("Idempotency-Key")
            request_fingerprint = fingerprint(self.command, path, body)
            if key:
                stored = partner.state.remembered(key)
                if stored is not None:
                    if stored.fingerprint != request_fingerprint:
                        raise ApiError(
                            422,
                            "E_IDEMPOTENCY_MISMATCH",
                            "this Idempotency-Key was used with a different request",
                        )
                    entry["replayed"] = True
                    extra["Idempotent-Replayed"] = "true"
                    return stored.status, json.loads(stored.body)
            status, reply = self._route(partner, path, body, entry)
            if key and 200 <= status <= 299:
                partner.state.remember(
                    key,
                    StoredResponse(request_fingerprint, status, json.dumps(reply).encode()),
                )
            return status, reply
        except ApiError as error:
            return error.status, _error_body(error)

    def _check_auth(self, partner: DemoPartner) -> None:
        authorization = self.headers.get("Authorization", "")
        scheme, _, credential = authorization.partition(" ")
        if scheme.lower() == "bearer" and secrets.compare_digest(
            credential.strip().encode(), partner.token.encode()
        ):
            return
        if scheme.lower() == "basic":
            try:
                decoded = base64.b64decode(credential.strip(), validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                decoded = ""
            user = decoded.partition(":")[0]
            if secrets.compare_digest(user.encode(), partner.api_key.encode()):
                return
        api_key = self.headers.get("X-API-Key")
        if api_key is not None and secrets.compare_digest(
            api_key.strip().encode(), partner.api_key.encode()
        ):
            return
        raise ApiError(
            401,
            "E_AUTH",
            "missing or invalid credentials: send Authorization: Bearer <token> or X-API-Key",
        )

    def _check_signature(self, partner: DemoPartner, body: bytes) -> str | None:
        header = self.headers.get(SIGNATURE_HEADER)
        if partner.signing_secret is None:
            return "present (not checked)" if header else None
        if header is None:
            raise ApiError(401, "E_SIGNATURE", f"missing {SIGNATURE_HEADER} header")
        problem = signature_problem(partner.signing_secret, body, header)
        if problem is not None:
            raise ApiError(401, "E_SIGNATURE", problem)
        return "valid"

    def _route(
        self, partner: DemoPartner, path: str, body: bytes, entry: dict[str, Any]
    ) -> tuple[int, Any]:
        method = self.command
        state = partner.state
        if path == "/v1/lists":
            if method == "GET":
                return 200, {"data": state.list_summaries()}
            if method != "POST":
                raise ApiError(405, "E_METHOD", "use POST to create a list")
            payload = _json(body)
            name = _list_name(payload)
            created = state.create_list(name)
            return 201, {"data": {"id": created.id, "name": created.name}}
        if path == "/v1/users/properties":
            if method not in {"POST", "PUT", "PATCH"}:
                raise ApiError(405, "E_METHOD", "use POST, PUT or PATCH to update users")
            try:
                updates = api.property_updates(_json(body))
            except api.PayloadError as exc:
                raise ApiError(400, "E_VALIDATION", str(exc)) from None
            entry["item_count"] = len(updates)
            count = state.update_properties(updates)
            return 200, {"data": {"updated": count}}
        match = _LIST_PATH.fullmatch(path)
        if match is None:
            raise ApiError(404, "E_NOT_FOUND", f"no API route {path}")
        list_id, rest = match.group("id"), match.group("rest")
        if rest is None:
            if method != "GET":
                raise ApiError(405, "E_METHOD", "use GET to read a list")
            found = [s for s in state.list_summaries() if s["id"] == list_id]
            if not found:
                raise _unknown_list(list_id)
            return 200, {"data": found[0]}
        if rest == "/members" and method == "GET":
            members = state.members_of(list_id)
            if members is None:
                raise _unknown_list(list_id)
            return 200, {"data": {"list_id": list_id, "members": sorted(members)}}
        if rest in {"/members", "/add"} and method in {"POST", "PUT", "PATCH"}:
            removing = False
        elif (rest == "/members" and method == "DELETE") or (
            rest in {"/remove", "/members/remove"} and method in {"POST", "DELETE"}
        ):
            removing = True
        else:
            raise ApiError(405, "E_METHOD", f"{method} is not allowed on {path}")
        if state.members_of(list_id) is None:
            raise _unknown_list(list_id)
        try:
            ids = api.member_ids(_json(body))
        except api.PayloadError as exc:
            raise ApiError(400, "E_VALIDATION", str(exc)) from None
        entry["item_count"] = len(ids)
        changed = (state.remove_members if removing else state.add_members)(list_id, ids)
        if changed is None:  # the list was deleted by a reset in between
            raise _unknown_list(list_id)
        count, size = changed
        verb = "removed" if removing else "added"
        return 200, {
            "data": {"list_id": list_id, "received": len(ids), verb: count, "member_count": size}
        }

    # --- control endpoints -----------------------------------------------------------

    def _handle_faults(self, partner: DemoPartner, body: bytes) -> None:
        # `curl -d '{...}'` sends JSON labelled as a form: a body that is a JSON object is
        # read as one, whatever its Content-Type says.
        form = self._is_form() and not body.lstrip().startswith(b"{")
        try:
            if form:
                raw = {k: v[-1] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
            else:
                raw = _json(body) if body else {}
                if not isinstance(raw, dict):
                    raise ApiError(400, "E_VALIDATION", "send a JSON object of fault settings")
            changes = _fault_changes(raw)
        except ApiError as error:
            self._send_json(error.status, _error_body(error))
            return
        faults = partner.state.set_faults(**changes)
        if form:
            self._redirect_home()
        else:
            self._send_json(200, {"faults": faults.as_dict()})

    def _is_form(self) -> bool:
        content_type = self.headers.get("Content-Type", "")
        return content_type.startswith("application/x-www-form-urlencoded")

    # --- writing responses -----------------------------------------------------------

    def _send_json(self, status: int, payload: Any, extra: dict[str, str] | None = None) -> None:
        body = json.dumps(payload).encode()
        self._send(status, body, "application/json", extra=extra)

    def _send(
        self,
        status: int,
        body: bytes | str,
        content_type: str,
        *,
        extra: dict[str, str] | None = None,
        page: bool = False,
    ) -> None:
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status, _phrase(status))
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        if page:
            self.send_header(
                "Content-Security-Policy",
                "default-src 'none'; style-src 'self'; form-action 'self'; "
                "frame-ancestors 'none'; base-uri 'none'",
            )
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _redirect_home(self) -> None:
        self.send_response(303)
        self.send_header("Location", "/")
        self.send_header("Content-Length", "0")
        self.end_headers()


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _error_body(error: ApiError) -> dict[str, Any]:
    return {"error": {"code": error.code, "message": error.message}}


def _unknown_list(list_id: str) -> ApiError:
    return ApiError(404, "E_LIST_NOT_FOUND", f"no list with id {list_id!r}")


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise ApiError(400, "E_BAD_JSON", f"the body is not valid JSON: {exc}") from None


def _list_name(payload: Any) -> str:
    if isinstance(payload, dict):
        name = payload.get("name")
        data = payload.get("data")
        if name is None and isinstance(data, dict):
            # JSON:API: {"data": {"type": "list", "attributes": {"name": ...}}}
            attributes = data.get("attributes")
            name = attributes.get("name") if isinstance(attributes, dict) else data.get("name")
        if isinstance(name, str) and name.strip():
            return name
    raise ApiError(400, "E_VALIDATION", 'send {"name": "..."} with a non-empty list name')


def _fault_changes(raw: dict[str, Any]) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    if "fail_next" in raw:
        changes["fail_next"] = _bounded_int(raw["fail_next"], "fail_next", 0, MAX_FAULT_COUNT)
    if "status" in raw:
        changes["status"] = _bounded_int(raw["status"], "status", 400, 599)
    if "delay_ms" in raw:
        changes["delay_ms"] = _bounded_int(raw["delay_ms"], "delay_ms", 0, MAX_FAULT_DELAY_MS)
    if "retry_after" in raw:
        value = raw["retry_after"]
        text = "" if value is None else str(value).strip()
        if len(text) > MAX_RETRY_AFTER_CHARS or any(c in text for c in "\r\n"):
            raise ApiError(400, "E_VALIDATION", "retry_after must be a short header value")
        changes["retry_after"] = text or None
    unknown = set(raw) - {"fail_next", "status", "delay_ms", "retry_after"}
    if unknown:
        raise ApiError(400, "E_VALIDATION", f"unknown fault settings: {', '.join(sorted(unknown))}")
    return changes


def _bounded_int(value: Any, name: str, low: int, high: int) -> int:
    if isinstance(value, bool):
        raise ApiError(400, "E_VALIDATION", f"{name} must be a whole number")
    try:
        number = int(str(value).strip() or "0")
    except ValueError:
        raise ApiError(400, "E_VALIDATION", f"{name} must be a whole number") from None
    if not low <= number <= high:
        raise ApiError(400, "E_VALIDATION", f"{name} must be between {low} and {high}")
    return number


class DemoPartner:
    """A running demo partner: start it, use `url`, stop it.

    ``with DemoPartner() as partner:`` binds 127.0.0.1 on a free port in a background
    thread. `state` is the live state (tests may read it directly; the HTTP control
    endpoints expose the same).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        token: str = DEMO_TOKEN,
        api_key: str = DEMO_API_KEY,
        signing_secret: str | None = None,
    ):
        self.host = host
        self.port = port
        self.token = token
        self.api_key = api_key
        self.signing_secret = signing_secret
        self.state = PartnerState()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The base URL, e.g. http://127.0.0.1:8765."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> DemoPartner:
        """Bind and serve in a daemon thread; returns self."""
        self.bind()
        assert self._server is not None
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"demo-partner-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def bind(self) -> DemoPartner:
        """Bind the listening socket (resolving port 0 to a free port); returns self."""
        self._server = _Server((self.host, self.port), self)
        self.port = self._server.server_address[1]
        return self

    def serve_forever(self) -> None:
        """Serve on the calling thread until interrupted (the CLI uses this)."""
        if self._server is None:
            self.bind()
        assert self._server is not None
        try:
            self._server.serve_forever(poll_interval=0.5)
        finally:
            self._server.server_close()

    def stop(self) -> None:
        """Stop serving and close the listening socket."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> DemoPartner:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def snapshot(self, *, with_members: bool = False) -> dict[str, Any]:
        """What `GET /_log` returns: recent requests, lists, properties, faults."""
        return {
            "requests": self.state.log_entries(),
            "lists": self.state.list_summaries(with_members=with_members),
            "users_in_cohort": self.state.users_in_cohort() if with_members else None,
            "property_user_count": len(self.state.properties),
            "faults": self.state.set_faults().as_dict(),
        }
