"""Real-browser tests: Debian's Chromium driven by Playwright against pytest-django's
live server (a real threaded HTTP server on loopback, on the test database).

Every test's page is watched (`console`): an error in the browser console or an uncaught
exception fails the test, unless the test says beforehand that it expects it
(`console.expect("status of 409")`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).parent / "artifacts"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    # Once Playwright starts, its sync API keeps an event loop in the main thread for the
    # rest of the session; the ORM calls tests make between browser steps are ordinary
    # synchronous calls, so Django's async guard is told so (e2e tests run last).
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": CHROMIUM_FLAGS,
        "headless": True,
    }


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {**browser_context_args, "viewport": {"width": 1280, "height": 900}}


class ConsoleWatch:
    """The errors a page logged: console messages of type error and uncaught exceptions."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.expected: list[str] = []

    def expect(self, *fragments: str) -> None:
        """Errors containing one of `fragments` are part of what the test does (a request
        the server refuses on purpose, say): they do not fail it."""
        self.expected.extend(fragments)

    @property
    def unexpected(self) -> list[str]:
        return [e for e in self.errors if not any(f in e for f in self.expected)]


@pytest.fixture(autouse=True)
def console(page) -> Iterator[ConsoleWatch]:
    """Watches the test's page from its first navigation; at the end of the test, any
    error the test did not expect fails it."""
    watch = ConsoleWatch()
    page.on(
        "console", lambda message: message.type == "error" and watch.errors.append(message.text)
    )
    page.on("pageerror", lambda error: watch.errors.append(str(error)))
    yield watch
    assert watch.unexpected == [], f"errors in the browser console: {watch.unexpected}"


@pytest.fixture
def screenshot(page):
    """`screenshot("name")` saves the current page under tests/e2e/artifacts/."""
    ARTIFACTS.mkdir(exist_ok=True)

    def take(name: str) -> Path:
        path = ARTIFACTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


@pytest.fixture
def sign_in(page, live_server):
    """`sign_in(user)`: through the sign-in form, then, for people with an authenticator
    app (the cast's reviewer and platform admin), the code it shows now. A code works once,
    so signing the same person in again within its 30 seconds types one of their recovery
    codes instead, as someone without their phone would."""
    from allauth.mfa.models import Authenticator

    from tests.conftest import PASSWORD
    from tests.signin import lasting_code

    typed: set[tuple[int, str]] = set()

    def second_factor(user) -> str:
        code = lasting_code(user)
        if (user.pk, code) in typed:
            codes = Authenticator.objects.get(user=user, type=Authenticator.Type.RECOVERY_CODES)
            code = codes.wrap().get_unused_codes()[0]
        typed.add((user.pk, code))
        return code

    def as_user(user) -> None:
        page.goto(f"{live_server.url}/signin/")
        page.get_by_label("Email").fill(user.email)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_load_state("networkidle")
        if page.url.endswith("/accounts/2fa/authenticate/"):
            page.get_by_label("Code").fill(second_factor(user))
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_load_state("networkidle")
        assert "/signin/" not in page.url and "/2fa/authenticate/" not in page.url, page.url

    return as_user
