"""The variable tracker: Declared / Used / Pre-defined with statuses and locations."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from syncengine.core.manifest.variables import PREDEFINED_VARIABLES
from syncengine.core.tracker import Location, TrackerRow, track_variables

FIXTURES = Path(__file__).parent / "fixtures"


def acme() -> dict[str, Any]:
    return json.loads((FIXTURES / "acme_list.json").read_text())


def row(rows: tuple[TrackerRow, ...], variable: str, **where: Any) -> TrackerRow:
    found = [
        r
        for r in rows
        if r.variable == variable and all(getattr(r, k) == v for k, v in where.items())
    ]
    assert len(found) == 1, found
    return found[0]


def test_a_clean_manifest_has_no_problems():
    assert track_variables(acme()).problems == ()


def test_declared_rows_say_where_each_variable_comes_from_and_is_used():
    tracker = track_variables(acme())
    assert [(r.variable, r.source, r.declared_at) for r in tracker.declared] == [
        ("bearer_token", "auth", "custom_fields.0"),
        ("region", "custom_field", "custom_fields.1"),
        ("user_id_field_amplitude", "mapping_field", "mapping_fields.0"),
    ]
    region = row(tracker.declared, "region")
    assert [location.path for location in region.locations] == [
        "endpoints.create_list.url",
        "endpoints.add_users.url",
        "endpoints.remove_users.url",
    ]
    assert region.locations[0] == Location("endpoints.create_list.url", 1, 23)
    assert row(tracker.declared, "bearer_token").secret is True


def test_a_declared_variable_used_nowhere_is_unused():
    doc = acme()
    doc["custom_fields"].append({"variable": "workspace", "display_name": "Workspace"})
    workspace = row(track_variables(doc).declared, "workspace")
    assert workspace.status == "unused"
    assert workspace.locations == ()


def test_used_rows_are_per_endpoint_and_part():
    doc = acme()
    doc["endpoints"]["add_users"]["headers"] = {"X-Region": "$region", "X-Again": "$region"}
    used = track_variables(doc).used
    headers = row(used, "region", endpoint="add_users", part="headers")
    assert headers.source == "add_users.headers"
    assert [location.path for location in headers.locations] == [
        "endpoints.add_users.headers.X-Region",
        "endpoints.add_users.headers.X-Again",
    ]
    assert row(used, "region", endpoint="add_users", part="url").status == "ok"
    assert row(used, "bearer_token", part="auth").endpoint is None


def test_an_undeclared_variable_is_flagged_with_its_place():
    doc = acme()
    doc["endpoints"]["create_list"]["payload"] = (
        '{\n  "name": "$cohort_name",\n  "w": "$wrkspace"\n}'
    )
    problem = row(track_variables(doc).used, "wrkspace")
    assert problem.status == "undeclared"
    assert problem.locations == (Location("endpoints.create_list.payload", 3, 9),)
    assert "neither declared" in problem.message


def test_a_pre_defined_variable_out_of_place_is_flagged_in_both_columns():
    doc = acme()
    doc["endpoints"]["create_list"]["url"] = "https://api.acme.test/$region/lists/$list_id"
    tracker = track_variables(doc)
    used = row(tracker.used, "list_id", endpoint="create_list")
    assert used.status == "not_available_here"
    predefined = row(tracker.predefined, "list_id")
    assert predefined.status == "not_available_here"
    assert "create_list url" in predefined.message
    assert [location.path for location in predefined.locations] == [
        "endpoints.create_list.url",
        "endpoints.add_users.url",
        "endpoints.remove_users.url",
    ]


def test_a_mapping_variable_outside_an_item_template_is_not_available_there():
    doc = acme()
    doc["endpoints"]["create_list"]["payload"] = '{"name": "$user_id_field_amplitude"}'
    problem = row(track_variables(doc).used, "user_id_field_amplitude", endpoint="create_list")
    assert problem.status == "not_available_here"


def test_every_pre_defined_variable_is_listed_with_an_explanation():
    predefined = track_variables(acme()).predefined
    assert [r.variable for r in predefined] == list(PREDEFINED_VARIABLES)
    assert all(r.description and r.where for r in predefined)
    assert row(predefined, "cohort_id").locations == ()
    assert row(predefined, "cohort_id").status == "ok"


def test_it_works_on_half_typed_templates():
    doc = acme()
    doc["endpoints"]["add_users"]["payload"] = '{"userIds": $items, "x": "$regoin'
    tracker = track_variables(doc)
    assert row(tracker.used, "regoin").status == "undeclared"
    assert row(tracker.used, "items", endpoint="add_users").status == "ok"


def test_it_never_raises_on_nonsense():
    for doc in (None, [], {"custom_fields": "x"}, {"endpoints": {"add_users": 3}}, {"auth": []}):
        tracker = track_variables(doc)
        assert len(tracker.predefined) == len(PREDEFINED_VARIABLES)


def test_as_dict_is_json_ready():
    data = track_variables(acme()).as_dict()
    assert json.loads(json.dumps(data)) == data
    assert set(data) == {"declared", "used", "predefined"}
    assert data["declared"][0]["locations"] == [
        {"path": "auth.token_variable", "line": None, "column": None}
    ]
