"""`manage.py integration test`: a test run from a manifest file, printed as it goes.

The same plan and the same `run_test` as the worker's runs (`syncengine.testruns`); only
the observer differs: it prints each exchange (secrets masked) instead of storing it.
Nothing is written to the database and no broker is needed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol

from portal.wording import counted
from syncengine import outbound, recording, testplan, testruns
from syncengine.core.errors import AttemptRecord
from syncengine.core.manifest.schema import SELECT_TYPES
from syncengine.core.types import SkippedUser
from syncengine.models import TestKind
from syncengine.testusers import (
    MAX_TEST_USERS,
    MIN_TEST_USERS,
    CsvError,
    TestUsers,
    csv_users,
    generated_users,
    parse_users_csv,
    used_properties,
)

# Where the CLI finds a signing secret: the environment keeps it out of shell history
# and process listings, where a command-line flag would show it.
SIGNING_SECRET_ENV = "INTEGRATION_SIGNING_SECRET"
BODY_EXCERPT_CHARS = 400
DEFAULT_CLI_USERS = 25
# Skipped users printed per batch; the rest are counted.
SKIPPED_SHOWN = 5


class CliTestError(Exception):
    """Bad input to `integration test`: printed as one line, exit status 1."""


class TextStream(Protocol):
    """Where the test prints: a text file, or a management command's output wrapper."""

    def write(self, text: str, /) -> object: ...
    def flush(self) -> None: ...


class PrintingObserver:
    """Prints the test as it runs: each step, each attempt, each failure explained."""

    def __init__(self, out: TextStream, err: TextStream, secrets: tuple[str, ...]) -> None:
        self.out, self.err, self.secrets = out, err, secrets

    def _line(self, text: str, *, error: bool = False) -> None:
        stream = self.err if error else self.out
        stream.write(recording.clean_text(text, self.secrets) + "\n")
        stream.flush()

    def step_started(self, step: testplan.StepPlan) -> None:
        what = (
            f"{counted(step.users, 'user')} in {counted(step.batches, 'request')}"
            if step.users
            else ""
        )
        self._line(f"== {step.label} {what}".rstrip())

    def attempt(self, step: testplan.StepPlan, record: AttemptRecord) -> None:
        shown = record.for_display()
        request, response = shown["request"], shown["response"]
        notes = []
        # As on the test page: attempts are counted only once there was a retry or one is
        # coming; a first attempt that settled the request is just the request.
        if record.attempt > 1 or record.outcome == "retrying":
            notes.append(f"attempt {record.attempt} of {record.max_attempts}")
        if record.request.item_count:
            notes.append(counted(record.request.item_count, "user"))
        self._line(
            f"-> {request['method']} {request['url']}"
            + (f"  ({', '.join(notes)})" if notes else "")
        )
        for name, value in request["headers"]:
            self._line(f"   {name}: {value}")
        if request["body"]:
            self._line(f"   {_excerpt(request['body'])}")
        if response is not None:
            # "201 Created", or "201 Created on attempt 3 of 8" after retries.
            status = (
                shown["summary"]
                if record.outcome == "success"
                else f"{response['status']} {response['reason']}"
            )
            self._line(f"<- {status} in {response['latency_ms']:.0f} ms")
            if response["body"]:
                self._line(f"   {_excerpt(response['body'])}")
        diagnosis = shown["diagnosis"]
        if diagnosis is not None:
            self._line(f"!! {diagnosis['title']}: {diagnosis['message']}", error=True)
        if record.outcome == "retrying" and record.wait_seconds is not None:
            self._line(f"   retrying in {record.wait_seconds:.1f} s")
        elif record.outcome in ("failed", "ignored"):
            # "not retried", "giving up" (after the last attempt), "ignored as classified".
            self._line(f"   {shown['summary']}")

    def batch_delivered(self, step: testplan.StepPlan, user_count: int) -> None:
        """Nothing to print: the attempt line already showed the 2xx."""

    def users_skipped(self, step: testplan.StepPlan, skipped: Mapping[str, SkippedUser]) -> None:
        counts = recording.skip_counts(skipped.values())
        self._line(f"   {recording.describe_skips(counts)}")
        for key, user in list(skipped.items())[:SKIPPED_SHOWN]:
            self._line(f"   - {key}: {user.message}")

    def list_id(self, list_id: str) -> None:
        self._line(f"   list id: {list_id}")

    def step_finished(
        self, step: testplan.StepPlan, status: str, note: str, error: Exception | None = None
    ) -> None:
        diagnosis = getattr(error, "diagnosis", None)
        if (
            diagnosis is not None
            and getattr(error, "kind", "") in recording.AFTER_RESPONSE_FAILURES
        ):
            self._line(f"!! {diagnosis.title}: {diagnosis.message}", error=True)
        self._line(f"   {step.label}: {status}{f' ({note})' if note else ''}")


@contextlib.contextmanager
def _quiet(logger_name: str) -> Iterator[None]:
    engine_logger = logging.getLogger(logger_name)
    level = engine_logger.level
    engine_logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        engine_logger.setLevel(level)


def connect_modal_defaults(
    manifest: Mapping[str, Any], values: Mapping[str, str], mapping: Mapping[str, str]
) -> tuple[dict[str, str], dict[str, str]]:
    """What the Connect modal starts with, under the given values: a select field's default
    or first option, a mapping field's first option. Text fields (secrets) stay unset."""
    filled = dict(values)
    for raw in manifest.get("custom_fields") or []:
        variable = raw.get("variable")
        if variable in filled or raw.get("type") not in SELECT_TYPES:
            continue
        first = _first_option(raw)
        default = raw.get("default") if raw.get("default") not in (None, "") else first
        if default is not None:
            filled[variable] = str(default)
    chosen = dict(mapping)
    for raw in manifest.get("mapping_fields") or []:
        variable = raw.get("variable")
        first = _first_option(raw)
        if variable not in chosen and first is not None:
            chosen[variable] = str(first)
    return filled, chosen


def _first_option(raw: Mapping[str, Any]) -> Any:
    options = raw.get("options") or []
    if not options:
        return None
    first = options[0]
    return first.get("value") if isinstance(first, dict) else first


def _excerpt(text: str) -> str:
    flat = " ".join(text.split())
    if len(flat) > BODY_EXCERPT_CHARS:
        return f"{flat[:BODY_EXCERPT_CHARS]}… ({len(text):,} characters)"
    return flat


def users_from_options(
    manifest: Mapping[str, Any],
    *,
    users: int | None,
    csv_path: str | None,
    mapping: Mapping[str, str] | None = None,
) -> TestUsers:
    """The test's users: from the CSV file, or `users` generated ones holding only the
    properties the mapping (its defaults filled in) gives the templates."""
    if csv_path is not None:
        path = Path(csv_path)
        if not path.is_file():
            raise CliTestError(f"{csv_path}: no such file")
        try:
            return csv_users(parse_users_csv(path.read_bytes(), manifest))
        except CsvError as error:
            lines = [
                f"{csv_path}:{problem['line']}: {problem['message']}"
                if problem.get("line")
                else f"{csv_path}: {problem['message']}"
                for problem in error.errors
            ]
            raise CliTestError("\n".join(lines)) from None
    count = DEFAULT_CLI_USERS if users is None else users
    if not MIN_TEST_USERS <= count <= MAX_TEST_USERS:
        raise CliTestError(f"--users must be between {MIN_TEST_USERS} and {MAX_TEST_USERS:,}")
    _, chosen = connect_modal_defaults(manifest, {}, mapping or {})
    return generated_users(count, properties=used_properties(manifest, chosen))


def run_cli_test(
    manifest: Mapping[str, Any],
    *,
    values: Mapping[str, str],
    mapping: Mapping[str, str],
    users: TestUsers,
    only: str | None,
    list_id: str | None,
    no_retries: bool,
    project_label: str | None,
    out: TextStream,
    err: TextStream,
) -> bool:
    """Run the test and print it; True when it passed."""
    kind = only or TestKind.FULL
    if kind in (TestKind.ADD_USERS, TestKind.REMOVE_USERS) and not list_id:
        raise CliTestError(f"--only {kind} needs --list-id (the id create_list returned)")
    if kind == TestKind.FULL and list_id:
        raise CliTestError("--list-id goes with --only add_users or --only remove_users")
    values, mapping = connect_modal_defaults(manifest, values, mapping)
    run_id = uuid.uuid4().hex[:12]
    try:
        plan = testplan.build_plan(
            manifest,
            kind=kind,
            values=values,
            mapping=mapping,
            users=users,
            scope=f"cli-test:{run_id}",
            cohort_id=f"cli-test-{run_id}",
            cohort_name=f"{testplan.DEFAULT_COHORT_NAME} (CLI {run_id})",
            list_id=list_id,
            no_retries=no_retries,
            signing_secret=os.environ.get(SIGNING_SECRET_ENV) or None,
        )
        testplan.check_plan(plan)
    except testplan.TestSetupError as problem:
        message = str(problem)
        if "signing secret" in message:
            message += f": set {SIGNING_SECRET_ENV} in the environment"
        raise CliTestError(message) from None
    observer = PrintingObserver(out, err, plan.secrets)
    header = f"Testing {manifest.get('display_name')!s} ({kind}) with {users.description}"
    if project_label:
        header += f" for project {project_label}"
    observer._line(header + ("; no retries" if no_retries else ""))
    try:
        # Every exchange is printed in full above; the engine's own log lines would only
        # repeat them, interleaved on stderr.
        with _quiet("syncengine"), outbound.outbound_client() as client:
            outcome = testruns.run_test(plan, observer, client=client)
    except testplan.TestSetupError as problem:
        raise CliTestError(str(problem)) from None
    observer._line("")
    observer._line(outcome.summary, error=not outcome.passed)
    return outcome.passed
