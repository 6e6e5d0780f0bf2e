"""The fake partners every test shares: real servers on loopback, on ports the kernel picks.

Fixtures (loaded by tests/conftest.py, so every test may ask for them):

- `partner`: the demo partner — the real service `make run` starts — fresh for the test.
- `start_partner(**options)`: another demo partner, with a token, API key, signing secret
  or address of its own; stopped after the test.
- `silent_partner`: a server that accepts connections and never answers, so a call to it
  stays in flight until its client gives up or its worker goes; `accepted` counts them.
- `listener`: a server that hangs up on every connection and counts them: proof that a
  refused address was never connected to (`listener.accepted == 0`).
- `PartnerLog(partner)`: every request a demo partner received, kept whole (its own log
  keeps the last 500), with a hook called on the partner's thread before it answers: what
  `kill -9` tests compare records with, and when they kill.

Helpers for the servers no well-behaved HTTP server library would make:

- `raw_server(script)`: a TCP server running `script(conn)` for each connection (a
  response that never ends, a 5 GB Content-Length, a server that accepts then hangs up);
  `read_request_head(conn)` reads the request a script answers.
- `closed_port()`: a loopback port nothing listens on (connections are refused).

Precise scripted HTTP answers come from pytest-httpserver's `httpserver` fixture.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from demo_partner import DemoPartner

Script = Callable[[socket.socket], None]


class RawServer:
    """A loopback TCP server running `script(conn)` for each accepted connection.

    Connections still open when the server closes are shut down, so that a script
    blocked reading from one returns.
    """

    def __init__(self, script: Script, host: str = "127.0.0.1"):
        self.script = script
        self.host = host
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.listener = socket.create_server((host, 0), family=family)
        self.listener.settimeout(0.2)
        self.port: int = self.listener.getsockname()[1]
        self.accepted = 0
        self._stop = threading.Event()
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._loop = threading.Thread(target=self._accept_loop, daemon=True)
        self._loop.start()

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self.accepted += 1
                self._open.add(conn)
            worker = threading.Thread(target=self._run, args=(conn,), daemon=True)
            worker.start()
            self._threads.append(worker)

    def _run(self, conn: socket.socket) -> None:
        try:
            # OSError: the client hung up first, which is what several tests are about.
            with contextlib.suppress(OSError), conn:
                self.script(conn)
        finally:
            with self._lock:
                self._open.discard(conn)

    def close(self) -> None:
        self._stop.set()
        self.listener.close()
        self._loop.join(timeout=2)
        with self._lock:
            still_open = list(self._open)
        for conn in still_open:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        for worker in self._threads:
            worker.join(timeout=2)


@contextlib.contextmanager
def raw_server(script: Script, host: str = "127.0.0.1") -> Iterator[RawServer]:
    server = RawServer(script, host)
    try:
        yield server
    finally:
        server.close()


def read_request_head(conn: socket.socket) -> bytes:
    """Read a whole request (head and Content-Length body) and return the head.

    The body must be read too: closing a socket with unread data makes the kernel send
    a reset, which can destroy a response still in flight to the client.
    """
    conn.settimeout(2)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n"


def never_answer(conn: socket.socket) -> None:
    """Read whatever comes until the client (or the server's close) hangs up."""
    conn.settimeout(None)
    while conn.recv(65536):
        pass


def hang_up(conn: socket.socket) -> None:
    """Close the connection at once (RawServer closes it when the script returns)."""


def closed_port() -> int:
    """A loopback port that was free a moment ago: connecting to it is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class PartnerLog:
    """Every API request `partner` received and answered, in order: its log entry (method,
    path, Idempotency-Key, status, item count, replayed) and `received_at`.

    `on_request(count)`, when set, is called with the number received so far on the
    partner's thread, after the partner acted on the request and before it answers: a
    test may kill the client right there, with the request received and its answer not.
    """

    def __init__(self, partner: DemoPartner):
        self.entries: list[dict[str, Any]] = []
        self.on_request: Callable[[int], None] | None = None
        self.lock = threading.Lock()
        original = partner.state.record

        def record(entry: dict[str, Any]) -> None:
            with self.lock:
                self.entries.append({**entry, "received_at": time.time()})
                count = len(self.entries)
                hook = self.on_request
            if hook is not None:
                hook(count)
            original(entry)

        partner.state.record = record  # type: ignore[method-assign]

    def received(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.entries)

    def clear(self) -> None:
        with self.lock:
            self.entries.clear()

    def keys_since(self, moment: float) -> set[str]:
        """The Idempotency-Keys of the requests received after `moment` (time.time())."""
        with self.lock:
            return {
                entry["idempotency_key"]
                for entry in self.entries
                if entry["received_at"] > moment and entry["idempotency_key"]
            }


@pytest.fixture
def start_partner() -> Iterator[Callable[..., DemoPartner]]:
    """`start_partner(**options)`: a demo partner started with `DemoPartner(**options)`,
    stopped when the test ends."""
    with contextlib.ExitStack() as running:

        def start(**options) -> DemoPartner:
            return running.enter_context(DemoPartner(**options))

        yield start


@pytest.fixture
def partner(start_partner) -> DemoPartner:
    """The demo partner on a free loopback port, with its default token and API key."""
    return start_partner()


@pytest.fixture
def silent_partner() -> Iterator[RawServer]:
    """A loopback endpoint that accepts connections and never answers."""
    with raw_server(never_answer) as server:
        yield server


@pytest.fixture
def listener() -> Iterator[RawServer]:
    """A loopback endpoint that counts the connections made to it and hangs up."""
    with raw_server(hang_up) as server:
        yield server
