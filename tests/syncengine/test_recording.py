"""Recording a test run (syncengine/recording.py): exchanges are written in bulk, and what
is stored is exactly what was sent and received, secrets masked and bodies cut for display."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syncengine import actions, recording
from syncengine.core.errors import AttemptRecord, PartnerResponse
from syncengine.core.masking import MASK
from syncengine.core.types import PreparedRequest
from syncengine.models import TestExchange, TestRun
from syncengine.testplan import StepPlan
from syncengine.testruns import plan_for_run
from tests.syncengine.conftest import save_settings

SECRET = "demo-token"  # the bearer token save_settings stores


@pytest.fixture
def recorder_for(cast, draft):
    """A run of the draft (its task never runs: nothing commits in these tests) taken as
    a worker takes it, a recorder over it, and its add_users step, started."""
    save_settings(cast, draft)

    def make() -> tuple[recording.RunRecorder, StepPlan]:
        # One test at a time per draft: the previous example's run is over.
        TestRun.objects.filter(integration=draft).update(status="passed")
        run = actions.test_run_start(acting_user=cast.alice, integration=draft)
        TestRun.objects.filter(pk=run.pk).update(status="running")
        run.refresh_from_db()
        plan = plan_for_run(run)
        recorder = recording.RunRecorder(run, plan)
        step = next(step for step in plan.steps if step.key == "add_users")
        recorder.step_started(step)
        return recorder, step

    return make


class Clock:
    """Stands in for the recorder's monotonic clock."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


def attempt_record(
    *,
    method: str = "POST",
    path: str = "/v1/lists/l1/members",
    headers: list[tuple[str, str]] | None = None,
    body: bytes | None = b'{"userIds": ["alice-1"]}',
    status: int | None = 200,
    reason: str = "OK",
    response_headers: list[tuple[str, str]] | None = None,
    response_body: bytes = b'{"ok": true}',
    outcome: str = "success",
) -> AttemptRecord:
    request = PreparedRequest(
        endpoint="add_users",
        method=method,
        url=f"https://api.partner.example{path}",
        headers=(("Authorization", f"Bearer {SECRET}"), *(headers or [])),
        body=body,
        batch_id="b1",
        item_count=1,
        secrets=(SECRET,),
    )
    response = (
        PartnerResponse(
            status=status,
            reason=reason,
            headers=tuple(response_headers or []),
            body=response_body,
            truncated=False,
            latency_ms=12.5,
            request=request,
            remote_address="127.0.0.1",
        )
        if status is not None
        else None
    )
    return AttemptRecord(
        endpoint="add_users",
        batch_id="b1",
        attempt=1,
        max_attempts=8,
        outcome=outcome,  # type: ignore[arg-type]
        request=request,
        response=response,
        wait_seconds=1.0 if outcome == "retrying" else None,
        latency_ms=12.5,
    )


# Text as partners send it: any characters (NUL and the secret among them), sometimes long.
texts = st.one_of(
    st.text(st.characters(exclude_categories=["Cs"]), max_size=300),
    st.lists(st.sampled_from(["ab", "é", "\x00", SECRET, "☃", '"', "\n"]), max_size=60).map(
        "".join
    ),
    st.integers(min_value=recording.STORED_BODY_CHARS - 5, max_value=70_000).map(
        lambda size: ("x" * (size - 20)) + SECRET + "tail"
    ),
)
header_names = st.from_regex(r"X-[A-Za-z0-9-]{1,20}", fullmatch=True)
header_values = st.text(st.characters(exclude_categories=["Cs", "Cc"]), max_size=60) | st.just(
    f"prefix {SECRET}"
)
exchanges = st.fixed_dictionaries(
    {
        "method": st.sampled_from(["POST", "PUT", "PATCH", "DELETE"]),
        "path": st.from_regex(r"/v1/[a-z0-9_-]{0,30}", fullmatch=True),
        "headers": st.lists(st.tuples(header_names, header_values), max_size=4),
        "body": texts.map(lambda text: text.encode("utf-8")) | st.none(),
        "status": st.sampled_from([200, 201, 204, 400, 429, 500, 503]),
        "reason": st.text(st.characters(exclude_categories=["Cs", "Cc"]), max_size=40),
        "response_headers": st.lists(st.tuples(header_names, header_values), max_size=4),
        "response_body": texts.map(lambda text: text.encode("utf-8")) | st.binary(max_size=200),
        "outcome": st.sampled_from(["success", "success", "retrying", "failed"]),
    }
)


@pytest.mark.django_db
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(sent=st.lists(exchanges, min_size=1, max_size=12))
def test_bulk_recording_stores_exactly_what_was_sent_and_received(recorder_for, sent):
    recorder, step = recorder_for()
    records = [attempt_record(**exchange) for exchange in sent]
    for record in records:
        recorder.attempt(step, record)
    recorder.flush()

    rows = list(TestExchange.objects.filter(run=recorder.run).order_by("sequence"))
    assert [row.sequence for row in rows] == list(range(1, len(sent) + 1))
    for row, exchange, record in zip(rows, sent, records, strict=True):
        # Each row holds what recording that one exchange on its own gives (secrets masked
        # as `masking` decides, NUL replaced, bodies cut)...
        for column, value in recording.exchange_fields(record, recorder.secrets).items():
            assert getattr(row, column) == value, column
        # ...which, where no secret is involved, is what was sent and received.
        body = exchange["body"] or b""
        assert row.request_method == exchange["method"]
        assert row.request_url == f"https://api.partner.example{exchange['path']}"
        assert row.request_body_bytes == len(body)
        assert row.response_status == exchange["status"]
        assert row.outcome == exchange["outcome"]
        assert row.latency_ms == 12.5
        if SECRET not in body.decode():
            assert row.request_body == kept(body.decode())
            assert row.request_body_truncated == (len(body.decode()) > recording.STORED_BODY_CHARS)
        received = exchange["response_body"].decode("utf-8", errors="replace")
        if SECRET not in received:
            assert row.response_body == kept(received)
        if not any(SECRET in value for _, value in exchange["headers"]):
            assert row.request_headers == [
                ["Authorization", f"Bearer {MASK}"],
                *([name, value] for name, value in exchange["headers"]),
            ]
        if not any(SECRET in value for _, value in exchange["response_headers"]):
            assert row.response_headers == [
                [name, value] for name, value in exchange["response_headers"]
            ]
    run = TestRun.objects.get(pk=recorder.run.pk)
    assert run.exchange_count == len(sent)


def kept(text: str) -> str:
    """What the inspector keeps of a text without secrets: NUL replaced, cut."""
    return text.replace("\x00", "\ufffd")[: recording.STORED_BODY_CHARS]


def test_exchanges_are_written_in_bulk_not_a_commit_each(recorder_for, monkeypatch):
    monkeypatch.setattr(recording, "PROGRESS_SAVE_SECONDS", 3600.0)
    recorder, step = recorder_for()
    count = 2 * recording.EXCHANGES_PER_INSERT + 50
    with CaptureQueriesContext(connection) as queries:
        for _ in range(count):
            recorder.attempt(step, attempt_record())
        assert TestExchange.objects.filter(run=recorder.run).count() == 0
        recorder.flush()
    # One statement for many rows at a time (Django logs an executemany as "N times: ...").
    inserts = [q["sql"] for q in queries if 'INSERT INTO "syncengine_testexchange"' in q["sql"]]
    assert [sql.split(" times: ")[0] for sql in inserts] == ["200", "200", "50"]
    assert TestExchange.objects.filter(run=recorder.run).count() == count
    assert TestRun.objects.get(pk=recorder.run.pk).exchange_count == count


def test_a_retry_is_stored_at_once_so_the_page_shows_it_while_it_waits(recorder_for, monkeypatch):
    monkeypatch.setattr(recording, "PROGRESS_SAVE_SECONDS", 3600.0)
    recorder, step = recorder_for()
    recorder.attempt(step, attempt_record())
    recorder.attempt(step, attempt_record(status=503, reason="Unavailable", outcome="retrying"))
    rows = TestExchange.objects.filter(run=recorder.run).order_by("sequence")
    assert [(row.sequence, row.outcome) for row in rows] == [(1, "success"), (2, "retrying")]


def test_progress_is_saved_in_bulk_as_time_passes(recorder_for, monkeypatch):
    clock = Clock()
    monkeypatch.setattr(recording, "time", clock)
    recorder, step = recorder_for()
    recorder.attempt(step, attempt_record())
    recorder.batch_delivered(step, 1)
    assert TestExchange.objects.filter(run=recorder.run).count() == 0
    clock.now += recording.PROGRESS_SAVE_SECONDS
    recorder.attempt(step, attempt_record())
    # An acknowledged request is written with the users it delivered, never before them.
    assert TestExchange.objects.filter(run=recorder.run).count() == 0
    recorder.batch_delivered(step, 1)
    assert TestExchange.objects.filter(run=recorder.run).count() == 2
    stored = TestRun.objects.get(pk=recorder.run.pk)
    assert stored.exchange_count == 2
    assert next(s for s in stored.steps if s["key"] == "add_users")["users_done"] == 2


@settings(max_examples=200, deadline=None)
@given(pairs=st.lists(st.tuples(texts, texts), max_size=5))
def test_headers_are_stored_as_each_name_and_value_is_on_its_own(pairs):
    """`clean_pairs` looks at all the headers together first; what it stores is what
    `clean_text` gives each name and value (secrets masked, NUL replaced)."""
    assert recording.clean_pairs(pairs, [SECRET]) == [
        [recording.clean_text(name, [SECRET]), recording.clean_text(value, [SECRET])]
        for name, value in pairs
    ]
