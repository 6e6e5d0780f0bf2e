"""Changes of cohort members (portal/cohort_changes.py): each change that changes something
makes exactly one new snapshot whose change rows are exactly who entered and who left;
a change that changes nothing makes none; changes of one cohort queue up."""

from __future__ import annotations

import io
import threading

import pytest
from django.db import connection, connections, transaction

from portal import actions, cohort_changes, cohorts
from portal.errors import ActionError
from portal.models import Cohort, CohortChange, CohortMember
from syncs import planning
from tests.waiting import wait_until


@pytest.fixture
def cohort(cast):
    return actions.cohort_create(acting_user=cast.alice, project=cast.acme_project, name="VIPs")


def members(*user_ids: str, **properties: str) -> list[dict]:
    return [{"user_id": user_id, **properties} for user_id in user_ids]


def logged(cohort: Cohort, snapshot: int) -> set[str]:
    """The change rows of one snapshot, as "+key" (entered) and "-key" (left)."""
    rows = CohortChange.objects.filter(cohort=cohort, snapshot=snapshot)
    return {("+" if row.entered else "-") + row.member_key for row in rows}


def stored(cohort: Cohort) -> set[str]:
    return set(CohortMember.objects.filter(cohort=cohort).values_list("member_key", flat=True))


def replayed(cohort: Cohort) -> set[str]:
    """The members the change log describes, replayed from an empty cohort in snapshot
    order: what a sync that delivered every snapshot holds."""
    keys: set[str] = set()
    for row in CohortChange.objects.filter(cohort=cohort).order_by("snapshot", "id"):
        assert (row.member_key in keys) != row.entered, f"{row} contradicts the log before it"
        (keys.add if row.entered else keys.discard)(row.member_key)
    return keys


def test_a_replacement_logs_only_the_difference(cast, cohort):
    first = actions.cohort_members_replace(
        acting_user=cast.alice, cohort=cohort, members=members("a", "b", "c")
    )
    assert (first.snapshot, first.entered, first.left, first.total) == (1, 3, 0, 3)
    assert logged(cohort, 1) == {"+u:a", "+u:b", "+u:c"}

    second = actions.cohort_members_replace(
        acting_user=cast.alice, cohort=cohort, members=members("b", "c", "d")
    )
    assert (second.snapshot, second.entered, second.left, second.total) == (2, 1, 1, 3)
    assert logged(cohort, 2) == {"-u:a", "+u:d"}
    cohort.refresh_from_db()
    assert (cohort.snapshot, cohort.member_count) == (2, 3)
    assert stored(cohort) == replayed(cohort) == {"u:b", "u:c", "u:d"}


def test_a_change_that_changes_nothing_makes_no_snapshot(cast, cohort):
    actions.cohort_members_replace(acting_user=cast.alice, cohort=cohort, members=members("a"))
    cohort.refresh_from_db()
    updated_at = cohort.updated_at

    again = actions.cohort_members_replace(
        acting_user=cast.alice, cohort=cohort, members=members("a")
    )
    re_added = actions.cohort_members_add(
        acting_user=cast.alice, cohort=cohort, members=members("a")
    )
    absent = actions.cohort_members_remove(
        acting_user=cast.alice, cohort=cohort, members=members("nobody")
    )

    for report in (again, re_added, absent):
        assert (report.snapshot, report.changed, report.total) == (1, False, 1)
    cohort.refresh_from_db()
    assert (cohort.snapshot, cohort.updated_at) == (1, updated_at)
    assert CohortChange.objects.filter(cohort=cohort).count() == 1


def test_a_member_whose_properties_changed_is_updated_in_a_new_snapshot_without_a_change_row(
    cast, cohort
):
    actions.cohort_members_replace(
        acting_user=cast.alice, cohort=cohort, members=members("a", "b", plan="free")
    )
    report = actions.cohort_members_add(
        acting_user=cast.alice,
        cohort=cohort,
        members=[{"user_id": "a", "email": "a@x.test", "plan": "pro"}],
    )
    assert (report.snapshot, report.entered, report.left, report.updated) == (2, 0, 0, 1)
    assert logged(cohort, 2) == set()
    member = CohortMember.objects.get(cohort=cohort, member_key="u:a")
    assert (member.email, member.properties) == ("a@x.test", {"plan": "pro"})


def test_a_patch_adds_and_removes_in_one_snapshot(cast, cohort):
    actions.cohort_members_replace(
        acting_user=cast.alice, cohort=cohort, members=members("a", "b", "c")
    )
    report = actions.cohort_members_change(
        acting_user=cast.alice,
        cohort=cohort,
        add=members("c", "d", "e"),
        remove=[{"user_id": "a"}, {"user_id": "zz"}],
    )
    assert (report.snapshot, report.entered, report.left, report.total) == (2, 2, 1, 4)
    assert logged(cohort, 2) == {"+u:d", "+u:e", "-u:a"}
    assert stored(cohort) == replayed(cohort) == {"u:b", "u:c", "u:d", "u:e"}


def test_members_are_known_by_amplitude_id_first(cast, cohort):
    actions.cohort_members_replace(
        acting_user=cast.alice,
        cohort=cohort,
        members=[{"user_id": "a", "amplitude_id": 7}, {"user_id": "b"}],
    )
    report = actions.cohort_members_replace(
        acting_user=cast.alice,
        cohort=cohort,
        members=[{"user_id": "a"}, {"user_id": "b", "amplitude_id": "007"}],
    )
    # Amplitude ID 7 stays (its user_id changed: an update); "a" without an Amplitude ID is
    # someone else, who enters; "b" now has one, so the member known as u:b left.
    assert logged(cohort, 2) == {"+u:a", "-u:b"}
    assert (report.entered, report.left, report.updated) == (1, 1, 1)
    assert CohortMember.objects.get(cohort=cohort, member_key="a:7").user_id == "b"


def test_a_member_both_added_and_removed_is_refused_and_changes_nothing(cast, cohort):
    actions.cohort_members_replace(acting_user=cast.alice, cohort=cohort, members=members("a"))
    with pytest.raises(ActionError) as refused:
        actions.cohort_members_change(
            acting_user=cast.alice,
            cohort=cohort,
            add=members("b", "c"),
            remove=[{"user_id": "a"}, {"user_id": "c"}],
        )
    assert refused.value.field == "remove"
    assert refused.value.message == (
        "remove[1]: the member u:c is also added (add[1]); a change either adds or removes a member"
    )
    assert stored(cohort) == {"u:a"}
    cohort.refresh_from_db()
    assert cohort.snapshot == 1


def test_a_bad_member_names_its_list_and_position(cast, cohort):
    with pytest.raises(ActionError) as refused:
        actions.cohort_members_change(
            acting_user=cast.alice,
            cohort=cohort,
            add=members("a"),
            remove=[{"user_id": "b"}, {"email": "no-id@x.test"}],
        )
    assert (refused.value.field, refused.value.message) == (
        "remove",
        "remove[1]: needs a user_id or an amplitude_id",
    )
    assert stored(cohort) == set()


def test_a_snapshot_of_repeated_members_keeps_each_first_row(cast, cohort):
    actions.cohort_members_replace(acting_user=cast.alice, cohort=cohort, members=members("a"))
    report = actions.cohort_members_replace(
        acting_user=cast.alice,
        cohort=cohort,
        members=[
            {"user_id": "a", "plan": "pro"},
            {"user_id": "b", "plan": "first"},
            {"user_id": "a", "plan": "free"},
            {"user_id": "b", "plan": "second"},
        ],
    )
    assert (report.entered, report.updated, report.duplicates, report.total) == (1, 1, 2, 2)
    plans = dict(
        CohortMember.objects.filter(cohort=cohort).values_list("member_key", "properties__plan")
    )
    assert plans == {"u:a": "pro", "u:b": "first"}


def test_an_emptied_cohort_logs_everyone_leaving(cast, cohort):
    actions.cohort_members_replace(acting_user=cast.alice, cohort=cohort, members=members("a", "b"))
    report = actions.cohort_members_replace(acting_user=cast.alice, cohort=cohort, members=[])
    assert (report.snapshot, report.left, report.total) == (2, 2, 0)
    assert logged(cohort, 2) == {"-u:a", "-u:b"}


def csv_of(*user_ids: str) -> io.BytesIO:
    return io.BytesIO(("user_id,plan\n" + "".join(f"{u},pro\n" for u in user_ids)).encode())


def test_a_change_too_big_to_log_writes_one_wholesale_marker(cast, cohort, monkeypatch):
    monkeypatch.setattr(cohort_changes, "MAX_LOGGED_CHANGES", 3)
    marker = {"+" + cohort_changes.WHOLESALE}

    # A new cohort of four members, from a CSV file (copied) and from JSON (staged).
    report = actions.cohort_members_replace_csv(
        acting_user=cast.alice, cohort=cohort, csv_file=csv_of("a", "b", "c", "d")
    )
    assert (report.snapshot, report.entered, report.total) == (1, 4, 4)
    assert logged(cohort, 1) == marker
    other = actions.cohort_create(acting_user=cast.alice, project=cast.acme_project, name="B")
    actions.cohort_members_replace(
        acting_user=cast.alice, cohort=other, members=members("a", "b", "c", "d")
    )
    assert logged(other, 1) == marker

    # Four changes of a cohort with members (two entered, two left): a marker too.
    report = actions.cohort_members_replace_csv(
        acting_user=cast.alice, cohort=cohort, csv_file=csv_of("a", "b", "e", "f")
    )
    assert (report.snapshot, report.entered, report.left) == (2, 2, 2)
    assert logged(cohort, 2) == marker
    # Three changes, the limit, are still logged member by member.
    report = actions.cohort_members_change(
        acting_user=cast.alice, cohort=cohort, add=members("g", "h"), remove=members("a")
    )
    assert (report.snapshot, report.entered, report.left) == (3, 2, 1)
    assert logged(cohort, 3) == {"+u:g", "+u:h", "-u:a"}
    # Members are applied in full either way.
    assert stored(cohort) == {"u:b", "u:e", "u:f", "u:g", "u:h"}
    assert stored(other) == {"u:a", "u:b", "u:c", "u:d"}


def planned_members(cohort: Cohort) -> int:
    with connection.cursor() as cursor:
        return cohort_changes.planned_members(cursor, cohort.pk)


def test_a_cohort_unknown_to_the_statistics_has_them_gathered_before_it_is_compared(
    cast, cohort, monkeypatch
):
    monkeypatch.setattr(cohort_changes, "STALE_ESTIMATE_MEMBERS", 100)
    # The statistics were gathered when the table held another cohort only; this one was
    # filled since, by less than autovacuum waits for.
    other = actions.cohort_create(acting_user=cast.alice, project=cast.acme_project, name="B")
    actions.cohort_members_replace_csv(
        acting_user=cast.alice, cohort=other, csv_file=csv_of(*(f"o{i}" for i in range(2000)))
    )
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {CohortMember._meta.db_table}")
    users = [f"u{i:04}" for i in range(1000)]
    actions.cohort_members_replace_csv(
        acting_user=cast.alice, cohort=cohort, csv_file=csv_of(*users)
    )
    assert planned_members(cohort) < 100, "the statistics do not know the new cohort"

    report = actions.cohort_members_replace_csv(
        acting_user=cast.alice, cohort=cohort, csv_file=csv_of(*users[10:], "new")
    )
    assert (report.entered, report.left, report.total) == (1, 10, 991)
    assert planned_members(cohort) >= 100, "gathered again before the comparison"
    # A patch of a cohort the statistics know goes through as before.
    actions.cohort_members_change(acting_user=cast.alice, cohort=cohort, add=members("later"))
    assert stored(cohort) == {f"u:{user}" for user in (*users[10:], "new", "later")}


def test_the_log_threshold_is_the_syncs_incremental_limit():
    # Below the syncs' limit a sync that could read the log would fall back to comparing
    # whole cohorts; above it the log would hold rows no sync reads.
    assert cohort_changes.MAX_LOGGED_CHANGES == planning.MAX_INCREMENTAL_CHANGES


def test_member_keys_sort_by_code_point_in_every_table_that_holds_them(cast, cohort):
    # Planning pages through members, change rows and the delivered state together
    # (`member_key > %(after)s`, ORDER BY member_key): they must order keys alike.
    user_ids = ["é", "Z", "a", "ä", "_", "a b", "ab", "€", "1"]
    actions.cohort_members_replace(
        acting_user=cast.alice, cohort=cohort, members=members(*user_ids)
    )
    in_order = [f"u:{user_id}" for user_id in sorted(user_ids)]
    keys = CohortMember.objects.filter(cohort=cohort).order_by("member_key")
    assert list(keys.values_list("member_key", flat=True)) == in_order
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT table_name, collation_name FROM information_schema.columns "
                "WHERE column_name = 'member_key' AND table_name IN "
                "('portal_cohortmember', 'portal_cohortchange', 'syncs_deliveredmember')"
            )
            collations = dict(cursor.fetchall())
        assert collations == dict.fromkeys(
            ("portal_cohortmember", "portal_cohortchange", "syncs_deliveredmember"), "C"
        )


def test_each_change_writes_one_audit_row_with_its_snapshot(cast, cohort):
    from portal.models import AuditEvent

    actions.cohort_members_replace(acting_user=cast.alice, cohort=cohort, members=members("a"))
    actions.cohort_members_add(acting_user=cast.alice, cohort=cohort, members=members("a"))
    actions.cohort_members_add(acting_user=cast.alice, cohort=cohort, members=members("b"))
    events = AuditEvent.objects.filter(action__startswith="cohort.members_").order_by("id")
    assert [(event.action, event.after["snapshot"]) for event in events] == [
        ("cohort.members_replaced", 1),
        ("cohort.members_changed", 2),
    ]
    assert [event.after["entered"] for event in events] == [1, 1]
    assert [event.after["snapshot"] for event in cohorts.recent_changes(cohort)] == [2, 1]


# --------------------------------------------------------------------------------------
# Concurrency: real connections, real row locks


def in_thread(work) -> tuple[threading.Thread, list]:
    """Run `work` in a thread with a connection of its own; its result (or exception)
    lands in the returned list."""
    outcome: list = []

    def run() -> None:
        try:
            outcome.append(work())
        except BaseException as error:  # handed to the test, which fails on it
            outcome.append(error)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def waiting_for_a_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0] > 0


@pytest.mark.django_db(transaction=True)
def test_a_change_waits_for_the_change_in_progress_and_gets_the_next_snapshot():
    from tests.conftest import build_cast

    cast = build_cast()
    cohort = actions.cohort_create(acting_user=cast.alice, project=cast.acme_project, name="Q")
    first_holds_the_lock = threading.Event()
    let_first_commit = threading.Event()

    def first() -> cohorts.ChangeReport:
        with transaction.atomic():
            report = cohorts.change_members(
                Cohort.objects.get(pk=cohort.pk),
                add=[cohorts.member_values({"user_id": "a"})],
                remove=[],
            )
            first_holds_the_lock.set()
            assert let_first_commit.wait(30)
        return report

    def second() -> cohorts.ChangeReport:
        return cohorts.patch_members(
            Cohort.objects.get(pk=cohort.pk), add=members("b"), remove=[{"user_id": "a"}]
        )

    first_thread, first_outcome = in_thread(first)
    assert first_holds_the_lock.wait(30)
    second_thread, second_outcome = in_thread(second)
    # The second change is stuck on the cohort row the first one locked...
    wait_until(waiting_for_a_lock, 30, "the second change never waited for the first")
    assert second_thread.is_alive() and not second_outcome
    let_first_commit.set()
    first_thread.join(30)
    second_thread.join(30)

    (first_report,), (second_report,) = first_outcome, second_outcome
    assert (first_report.snapshot, first_report.entered) == (1, 1)
    # ... and, once it ran, saw the first change: "a" was there to leave.
    assert (second_report.snapshot, second_report.entered, second_report.left) == (2, 1, 1)
    assert logged(cohort, 1) == {"+u:a"}
    assert logged(cohort, 2) == {"+u:b", "-u:a"}
    assert stored(cohort) == replayed(cohort) == {"u:b"}


@pytest.mark.django_db(transaction=True)
def test_many_concurrent_changes_leave_a_log_that_replays_to_the_members():
    from tests.conftest import build_cast

    cast = build_cast()
    cohort = actions.cohort_create(acting_user=cast.alice, project=cast.acme_project, name="Q")
    start = threading.Barrier(4)

    def worker(number: int):
        def work() -> list[int]:
            start.wait(30)
            snapshots = []
            for step in range(6):
                own = [{"user_id": f"w{number}-{step}"}, {"user_id": f"shared-{step % 3}"}]
                gone = [{"user_id": f"w{(number + 1) % 4}-{step - 1}"}]
                report = cohorts.patch_members(
                    Cohort.objects.get(pk=cohort.pk), add=own, remove=gone
                )
                if report.changed:
                    snapshots.append(report.snapshot)
            return snapshots

        return work

    started = [in_thread(worker(number)) for number in range(4)]
    outcomes = []
    for thread, outcome in started:
        thread.join(60)
        assert not thread.is_alive()
        outcomes.append(outcome[0])
    for outcome in outcomes:
        assert not isinstance(outcome, BaseException), outcome
    snapshots = sorted(snapshot for outcome in outcomes for snapshot in outcome)
    # Every change that changed something got its own number, one after the other.
    assert snapshots == list(range(1, len(snapshots) + 1))
    cohort.refresh_from_db()
    assert cohort.snapshot == len(snapshots)
    assert stored(cohort) == replayed(cohort)
    assert cohort.member_count == len(stored(cohort))


@pytest.mark.django_db(transaction=True)
def test_a_cohort_deleted_while_a_change_commits_leaves_no_member_or_change_behind():
    from tests.conftest import build_cast

    cast = build_cast()
    cohort = actions.cohort_create(acting_user=cast.alice, project=cast.acme_project, name="Q")
    actions.cohort_members_replace(acting_user=cast.alice, cohort=cohort, members=members("a"))
    change_holds_the_lock = threading.Event()
    let_change_commit = threading.Event()

    def change() -> cohorts.ChangeReport:
        with transaction.atomic():
            report = cohorts.change_members(
                Cohort.objects.get(pk=cohort.pk),
                add=[cohorts.member_values({"user_id": "b"})],
                remove=[],
            )
            change_holds_the_lock.set()
            assert let_change_commit.wait(30)
        return report

    def delete() -> None:
        actions.cohort_delete(acting_user=cast.alice, cohort=Cohort.objects.get(pk=cohort.pk))

    change_thread, change_outcome = in_thread(change)
    assert change_holds_the_lock.wait(30)
    delete_thread, delete_outcome = in_thread(delete)
    # The delete removed the members it saw, then waits for the cohort row...
    wait_until(waiting_for_a_lock, 30, "the delete never waited for the change")
    let_change_commit.set()
    change_thread.join(30)
    delete_thread.join(30)

    assert change_outcome[0].entered == 1 and delete_outcome == [None]
    # ... and the member the change added meanwhile went with the cohort.
    assert not Cohort.objects.filter(pk=cohort.pk).exists()
    assert not CohortMember.objects.filter(cohort_id=cohort.pk).exists()
    assert not CohortChange.objects.filter(cohort_id=cohort.pk).exists()
