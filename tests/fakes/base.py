"""A small real HTTP server on loopback that fakes a partner's API, strictly.

Each fake (`klaviyo`, `hubspot`, `sendgrid`, `intercom`, `directory`) subclasses
`FakeApi`: it routes requests by method and path pattern to handlers that check what the
vendor's public reference requires (headers, content type, body schema, query parameters,
per-call limits, ids that were never issued) and answer as documented. A refusal is an
`ApiRefusal`, answered with the vendor's error shape. Every request is logged (method,
path, query, headers, body and the answer's status), so tests can check what was sent as
well as the fake's state.

The server binds 127.0.0.1 on an ephemeral port; `base_url` is its origin.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

MAX_BODY_BYTES = 16 * 1024 * 1024


class ApiRefusal(Exception):
    """The fake refuses the request: status and the vendor-shaped error body."""

    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None):
        super().__init__(f"{status}: {body}")
        self.status = status
        self.body = body
        self.headers = headers or {}


@dataclass
class Call:
    """One request the fake received, as it came in, and the status it answered."""

    method: str
    path: str
    raw_path: str
    query: dict[str, list[str]]
    raw_query: str
    headers: dict[str, str]
    body: bytes
    status: int = 0

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Answer:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[["Call", "re.Match[str]"], Answer]


class FakeApi:
    """Routes, state and the request log of one fake API (see the module docstring)."""

    content_type = "application/json"

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.calls: list[Call] = []
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.faults: list[Answer] = []
        self.routes()

    # -- to override ---------------------------------------------------------------------

    def routes(self) -> None:
        """Register the API's routes with `route`."""

    def authenticate(self, call: Call) -> None:
        """Raise `ApiRefusal` unless the call carries valid credentials."""

    def not_found(self, call: Call) -> ApiRefusal:
        return ApiRefusal(404, {"error": f"no route {call.method} {call.path}"})

    # -- plumbing ------------------------------------------------------------------------

    def route(self, method: str, pattern: str, handler: Handler) -> None:
        self._routes.append((method, re.compile(pattern + r"\Z"), handler))

    def fail_next(self, status: int, body: Any = None, headers: dict[str, str] | None = None):
        """Answer the next request with this error, whatever it is (a transient fault)."""
        with self.lock:
            self.faults.append(Answer(status, body or {"error": "fault"}, headers or {}))

    def start(self) -> FakeApi:
        fake = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:
                return

            def _serve(self) -> None:
                fake._handle(self)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> FakeApi:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def calls_to(self, method: str, pattern: str) -> list[Call]:
        compiled = re.compile(pattern + r"\Z")
        with self.lock:
            return [c for c in self.calls if c.method == method and compiled.match(c.path)]

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        split = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(min(length, MAX_BODY_BYTES)) if length else b""
        call = Call(
            method=handler.command,
            path=unquote(split.path),
            raw_path=split.path,
            query=parse_qs(split.query, keep_blank_values=True),
            raw_query=split.query,
            headers={name.lower(): value for name, value in handler.headers.items()},
            body=body,
        )
        with self.lock:
            self.calls.append(call)
            fault = self.faults.pop(0) if self.faults else None
        answer = fault or self._dispatch(call)
        call.status = answer.status
        payload = b"" if answer.body is None else json.dumps(answer.body).encode()
        handler.send_response(answer.status)
        if payload:
            handler.send_header("Content-Type", self.content_type)
        handler.send_header("Content-Length", str(len(payload)))
        for name, value in answer.headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(payload)

    def _dispatch(self, call: Call) -> Answer:
        try:
            matched = [
                (handler, match)
                for method, pattern, handler in self._routes
                if (match := pattern.match(call.raw_path))
                and (method == call.method or method == "*")
            ]
            if not matched:
                raise self.not_found(call)
            self.authenticate(call)
            handler, match = matched[0]
            with self.lock:
                return handler(call, match)
        except ApiRefusal as refusal:
            return Answer(refusal.status, refusal.body, refusal.headers)

    # -- helpers for handlers ------------------------------------------------------------

    @staticmethod
    def json_body(call: Call, refuse: Callable[[str], ApiRefusal]) -> Any:
        if not call.body:
            raise refuse("the request has no body")
        try:
            return json.loads(call.body)
        except ValueError:
            raise refuse("the body is not valid JSON") from None

    @staticmethod
    def require_content_type(call: Call, expected: str, refuse: ApiRefusal) -> None:
        value = (call.header("content-type") or "").split(";")[0].strip().lower()
        if value != expected:
            raise refuse
