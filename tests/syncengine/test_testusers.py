"""Test users: the CSV format with an operation column, its validation, generated users."""

from __future__ import annotations

import pytest

from syncengine.testusers import (
    MAX_CSV_ROWS,
    CsvError,
    csv_template,
    csv_users,
    generated_users,
    parse_users_csv,
    per_user_variables,
)
from tests.syncengine.conftest import list_manifest, property_manifest

MANIFEST = list_manifest("https://api.partner.example")


def problems(data: str, manifest=MANIFEST) -> list[tuple[int | None, str]]:
    with pytest.raises(CsvError) as caught:
        parse_users_csv(data.encode(), manifest)
    return [(p["line"], p["message"]) for p in caught.value.errors]


def test_the_columns_are_operation_and_each_variable_the_item_templates_use():
    assert per_user_variables(MANIFEST) == ["user_id_field"]
    assert csv_template(MANIFEST).splitlines()[0] == "operation,user_id_field"


def test_a_good_file_gives_rows_with_their_line_numbers():
    rows = parse_users_csv(
        b"operation,user_id_field\nadd,alice@example.com\n\nADD , bob@example.com\n"
        b"remove,carol@example.com\n",
        MANIFEST,
    )
    assert [(r["line"], r["operation"], r["values"]) for r in rows] == [
        (2, "add", {"user_id_field": "alice@example.com"}),
        (4, "add", {"user_id_field": "bob@example.com"}),
        (5, "remove", {"user_id_field": "carol@example.com"}),
    ]


def test_a_byte_order_mark_and_crlf_are_fine():
    rows = parse_users_csv(b"\xef\xbb\xbfoperation,user_id_field\r\nadd,a\r\n", MANIFEST)
    assert rows[0]["values"] == {"user_id_field": "a"}


def test_missing_columns_are_named():
    assert problems("user_id_field\nalice\n") == [(1, "missing column: operation")]
    assert problems("operation\nadd\n") == [(1, "missing column: user_id_field")]


def test_an_unknown_column_lists_the_allowed_ones():
    ((line, message),) = problems("operation,user_id_field,emial\nadd,a,b\n")
    assert line == 1
    assert "unknown column 'emial'" in message
    assert "operation, user_id_field, cohort_name, cohort_id" in message


def test_each_bad_row_is_reported_with_its_line():
    found = problems(
        "operation,user_id_field\nadd,alice\ndelete,bob\nremove,\n,carol\nadd,dave,extra\n"
    )
    assert found == [
        (3, "operation is 'delete'; use add or remove"),
        (4, "user_id_field is empty"),
        (5, "operation is empty; use add or remove"),
        (6, "more values than header columns"),
    ]


def test_create_list_parameters_must_agree_on_every_row():
    found = problems(
        "operation,user_id_field,cohort_name\nadd,a,Power users\nadd,b,\nremove,c,Churned\n"
    )
    assert found == [
        (
            4,
            "cohort_name is 'Churned' but line 2 says 'Power users'; create_list runs once "
            "per test, so every row must give the same cohort_name",
        )
    ]


def test_consistent_create_list_parameters_name_the_test_list():
    users = csv_users(
        parse_users_csv(
            b"operation,user_id_field,cohort_name,cohort_id\nadd,a,VIPs,c-1\nremove,b,VIPs,c-1\n",
            MANIFEST,
        )
    )
    assert (users.cohort_name, users.cohort_id) == ("VIPs", "c-1")
    assert users.mapping == {"user_id_field": "user_id_field"}
    assert list(users.to_add.values()) == [{"user_id_field": "a"}]
    assert list(users.to_remove.values()) == [{"user_id_field": "b"}]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "the file is empty: the first line must be a header row"),
        (b"operation,user_id_field\n", "the file has a header row but no users"),
        (b"\xff\xfeoperation", "the file is not UTF-8 text (byte 0 cannot be read)"),
        (b"operation,user_id_field\nadd,a\x00b\n", "the file contains NUL characters"),
        (b"operation,operation,user_id_field\nadd,add,a\n", "the header names operation more"),
    ],
)
def test_unusable_files_are_refused_with_a_reason(data, message):
    with pytest.raises(CsvError) as caught:
        parse_users_csv(data, MANIFEST)
    assert caught.value.errors[0]["message"].startswith(message)


def test_at_most_max_rows_and_at_most_twenty_problems_are_reported():
    rows = "".join(f"add,user{i}\n" for i in range(MAX_CSV_ROWS + 1))
    found = problems("operation,user_id_field\n" + rows)
    assert found == [(MAX_CSV_ROWS + 2, f"a test takes at most {MAX_CSV_ROWS:,} users")]
    many_bad = "operation,user_id_field\n" + "nope,a\n" * 100
    assert len(problems(many_bad)) == 20


def test_a_property_manifest_takes_the_same_columns():
    manifest = property_manifest("https://api.partner.example")
    assert per_user_variables(manifest) == ["user_id_field"]
    rows = parse_users_csv(b"operation,user_id_field\nadd,a\nremove,b\n", manifest)
    assert [row["operation"] for row in rows] == ["add", "remove"]


def test_generated_users_are_all_added_and_one_in_five_removed():
    users = generated_users(25)
    assert len(users.to_add) == 25
    assert len(users.to_remove) == 5
    assert set(users.to_remove) <= set(users.to_add)
    assert len(generated_users(1).to_remove) == 1
