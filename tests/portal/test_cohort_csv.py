"""CSV files of members (portal/cohort_csv.py and portal/cohorts.py): the COPY fast path
must store exactly what the Python reader stores, take the plain files, and hand every
file it cannot vouch for to the Python reader, which reports errors line by line."""

from __future__ import annotations

import io

import pytest

from portal import actions, cohort_csv, cohorts
from portal.models import Cohort, CohortChange, CohortMember

# Members both cohorts hold before each file: a number, a null and an extra key among
# the properties, which a CSV (text only, its own columns) must replace.
BEFORE = [
    {"user_id": "u1", "amplitude_id": 1, "plan": "free"},
    {"user_id": "u2", "amplitude_id": 2, "seats": 5},
    {"user_id": "u3", "email": "u3@x.test", "plan": "pro", "region": "eu"},
    {
        "user_id": "u4",
        "amplitude_id": 4,
        "device_id": "d4",
        "email": "u4@x.test",
        "properties": {"plan": None},
    },
    {"user_id": "gone"},
]

PLAIN = """user_id,amplitude_id,device_id,email,plan
u1,1,d1,u1@x.test,free
u2,2,d2,,pro
u3,,,u3@x.test,pro
u4,4,d4,u4@x.test,
"""

FILES = {
    "plain": PLAIN,
    "crlf": PLAIN.replace("\n", "\r\n"),
    "no final newline": PLAIN.rstrip("\n"),
    "bom": "\ufeff" + PLAIN,
    "numbers written differently": "user_id,amplitude_id\nu1,+1\nu2,0002\nu5,5\n",
    "property numbers as text": "user_id,amplitude_id,seats\nu2,2,5\nu1,1,\n",
    "spaces around values": "user_id , amplitude_id,plan\n u1 ,1 , free\nu2,  2,pro \n",
    "tabs and odd spaces": "user_id,amplitude_id,plan\nu1\t,1,\x0bfree\x1f\nu2,2,\xa0pro\u3000\n",
    "non-ascii text": "user_id,amplitude_id,name\nu1,1,Zoë\nu2,2,Łukasz\nu6,,東京\n",
    "quoted fields": 'user_id,amplitude_id,name\nu1,1,"Smith, John"\n"u2",2,"say ""hi"""\n',
    "a quote inside a field": 'user_id,amplitude_id,name\nu1,1,ab"c\nu2,2,x"y"z\n',
    "a record over two lines": 'user_id,amplitude_id,note\nu1,1,"two\nlines"\nu2,2,one\n',
    "repeated members": "user_id,amplitude_id,plan\nu1,1,a\nu9,,b\nu1,1,c\nu9,,d\nu1,01,e\n",
    "blank lines": "user_id\nu1\n\nu2\n\n",
    "short rows": "user_id,amplitude_id,plan\nu1,1\nu2\n",
    "end of data marker": "user_id\nu1\n\\.\nu2\n",
    "a column named properties": "user_id,properties\nu1,text\nu2,\n",
    "only identifiers": "amplitude_id\n1\n2\n3\n",
    "header only": "user_id,plan\n",
    "many property columns": "user_id,"
    + ",".join(f"p{i}" for i in range(60))
    + "\nu1,"
    + ",".join("x" if i < 3 else "" for i in range(60))
    + "\n",
}

# Files the fast path must take (the others it may take or leave).
FAST = {
    "plain",
    "crlf",
    "no final newline",
    "bom",
    "numbers written differently",
    "property numbers as text",
    "spaces around values",
    "tabs and odd spaces",
    "non-ascii text",
    "repeated members",
    "a column named properties",
    "only identifiers",
    "header only",
    "many property columns",
}

BAD_FILES = {
    "an amplitude_id that is not a number": (
        "user_id,amplitude_id\nu1,1\nu2,x2\nu3,9_223_372_036_854_775_808\nu4,1_000\n",
        [
            {"row": 3, "message": "amplitude_id 'x2' is not a whole number"},
            {"row": 4, "message": "amplitude_id is out of range"},
        ],
    ),
    "no identifier": (
        "user_id,amplitude_id,plan\nu1,1,a\n,,b\n  ,  ,c\n",
        [
            {"row": 3, "message": "needs a user_id or an amplitude_id"},
            {"row": 4, "message": "needs a user_id or an amplitude_id"},
        ],
    ),
    "a negative amplitude_id": (
        "amplitude_id\n5\n-5\n",
        [{"row": 3, "message": "amplitude_id is out of range"}],
    ),
    "a value too long": (
        f"user_id,plan\nu1,{'p' * 200}\nu2,{'p' * 201}\n{'u' * 199}é,x\n",
        [{"row": 3, "message": "plan is longer than 200 characters"}],
    ),
    "too many properties": (
        "user_id,"
        + ",".join(f"p{i}" for i in range(51))
        + "\nu1,"
        + ",".join("x" for _ in range(51))
        + "\n",
        [{"row": 2, "message": "at most 50 user properties per member"}],
    ),
    "more values than columns": (
        "user_id,plan\nu1,a\nu2,b,c\n",
        [{"row": None, "message": "line 3: more values than header columns"}],
    ),
    "nul": (
        "user_id,plan\nu1,a\nu\x002,b\n",
        [{"row": 3, "message": "user_id must not contain the NUL character (\\u0000)"}],
    ),
    "no identifier column": (
        "email,plan\na@x.test,b\n",
        [
            {
                "row": None,
                "message": "the header row must have a user_id or an amplitude_id column "
                "(found: email, plan)",
            }
        ],
    ),
    "not utf-8": (
        b"user_id,name\nu1,caf\xe9\n",
        None,  # the decoder's own words
    ),
}


@pytest.fixture
def two_cohorts(cast):
    """The same starting members in two cohorts: one loads through `load_csv`, the other
    through the Python reader alone."""
    made = []
    for name in ("Through load_csv", "Through Python"):
        cohort = actions.cohort_create(acting_user=cast.alice, project=cast.acme_project, name=name)
        actions.cohort_members_replace(acting_user=cast.alice, cohort=cohort, members=BEFORE)
        made.append(cohort)
    return made


@pytest.fixture
def fast_path_used(monkeypatch):
    """Whether `cohort_csv.load` took the last file it was offered."""
    taken: list[bool] = []
    load = cohort_csv.load

    def spy(*args, **kwargs):
        result = load(*args, **kwargs)
        taken.append(result is not None)
        return result

    monkeypatch.setattr(cohort_csv, "load", spy)
    return taken


def load_in_python(cohort: Cohort, data: bytes) -> cohorts.ChangeReport:
    text = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8-sig", newline="")
    return cohorts.load_members(cohort, cohorts.iter_csv_rows(text))


def state(cohort: Cohort) -> tuple[list[tuple], set[tuple]]:
    cohort.refresh_from_db()
    members = sorted(
        CohortMember.objects.filter(cohort=cohort).values_list(
            "member_key", "user_id", "amplitude_id", "device_id", "email", "properties"
        ),
        key=repr,
    )
    changes = set(
        CohortChange.objects.filter(cohort=cohort).values_list("snapshot", "member_key", "entered")
    )
    return members, changes


def summary(report: cohorts.ChangeReport) -> tuple:
    return (
        report.rows_read,
        report.total,
        report.duplicates,
        report.snapshot,
        report.entered,
        report.left,
        report.updated,
        report.errors,
    )


@pytest.mark.parametrize("name", list(FILES))
def test_the_fast_path_stores_what_the_python_reader_stores(two_cohorts, fast_path_used, name):
    data = FILES[name].encode()
    through_load_csv, through_python = two_cohorts
    fast = cohorts.load_csv(through_load_csv, io.BytesIO(data))
    python = load_in_python(through_python, data)
    assert fast.ok, fast.errors
    assert summary(fast) == summary(python)
    assert state(through_load_csv) == state(through_python)
    if name in FAST:
        assert fast_path_used == [True], "the fast path turned down a plain file"


@pytest.mark.parametrize("name", list(BAD_FILES))
def test_a_bad_file_changes_nothing_and_is_reported_line_by_line(two_cohorts, name):
    data, errors = BAD_FILES[name]
    data = data if isinstance(data, bytes) else data.encode()
    cohort, _ = two_cohorts
    before = state(cohort)
    report = cohorts.load_csv(cohort, io.BytesIO(data))
    assert not report.ok
    if errors is None:
        assert report.errors[0]["message"].startswith("the file is not a valid CSV: 'utf-8'")
    else:
        assert report.errors == errors
    assert state(cohort) == before


def test_a_bad_row_after_many_good_ones_is_found(cast):
    cohort = actions.cohort_create(acting_user=cast.alice, project=cast.acme_project, name="Big")
    lines = ["user_id,amplitude_id"] + [f"user-{n},{n}" for n in range(20_000)] + ["late,x"]
    report = cohorts.load_csv(cohort, io.BytesIO("\n".join(lines).encode()))
    assert report.errors == [{"row": 20_002, "message": "amplitude_id 'x' is not a whole number"}]
    assert report.rows_read == 20_001
    assert not CohortMember.objects.filter(cohort=cohort).exists()


def test_progress_is_reported_while_a_file_streams(cast, monkeypatch):
    from django.core.cache import caches

    from portal.models import import_progress_key

    cache = caches["progress"]
    monkeypatch.setattr(cohort_csv, "READ_CHUNK", 1024)
    seen: list[int] = []
    set_progress = cache.set

    def spy(key, value, *args, **kwargs):
        if key == import_progress_key(99):
            seen.append(value)
        return set_progress(key, value, *args, **kwargs)

    monkeypatch.setattr(cache, "set", spy)
    cohort = actions.cohort_create(acting_user=cast.alice, project=cast.acme_project, name="Prog")
    lines = ["user_id"] + [f"user-{n:05d}" for n in range(2_000)]
    report = cohorts.load_csv(cohort, io.BytesIO("\n".join(lines).encode()), progress_id=99)
    assert report.total == 2_000
    assert len(seen) > 5 and seen == sorted(seen) and seen[-1] == 2_000
