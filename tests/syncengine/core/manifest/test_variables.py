"""Variables: undeclared, unavailable where used, pre-defined, unused."""

from __future__ import annotations

import pytest

from syncengine.core.manifest.checks import check_manifest, manifest_errors
from tests.syncengine.core.manifest.conftest import (
    acme,
    codes_at,
    only,
)


def test_an_undeclared_variable_is_reported_where_it_is_used():
    doc = acme()
    doc["endpoints"]["add_users"]["payload"] = '{\n  "userIds": $items,\n  "src": "$source"\n}'
    diagnostic = only(doc, "endpoints.add_users.payload")
    assert diagnostic.code == "undeclared_variable"
    assert (diagnostic.line, diagnostic.column) == (3, 11)


def test_an_undeclared_variable_gets_a_suggestion():
    doc = acme()
    doc["endpoints"]["add_users"]["url"] = "https://api.acme.test/lists/$listId/add"
    message = only(doc, "endpoints.add_users.url").message
    assert message.endswith("Did you mean $list_id?")


@pytest.mark.parametrize(
    ("endpoint", "part", "template"),
    [
        ("create_list", "url", "https://api.acme.test/$list_id"),
        ("create_list", "payload", '{"b": "$batch_id"}'),
        ("create_list", "payload", '{"i": $items}'),
        ("add_users", "item_template", '{"i": $items}'),
        ("add_users", "payload", '{"i": $items, "in": $in_cohort}'),
        ("add_users", "url", "https://api.acme.test/$user_id_field_amplitude"),
        ("add_users", "payload", '{"i": $items, "u": "$user_id_field_amplitude"}'),
    ],
)
def test_a_variable_used_where_it_has_no_value_is_reported(endpoint, part, template):
    doc = acme()
    doc["endpoints"][endpoint][part] = template
    assert "variable_not_available" in codes_at(doc, f"endpoints.{endpoint}.{part}")


@pytest.mark.parametrize(
    ("endpoint", "part", "template"),
    [
        ("add_users", "url", "https://api.acme.test/$list_id/$batch_id/$cohort_id"),
        ("add_users", "item_template", '{"u": "$user_id_field_amplitude", "in": $in_cohort}'),
        ("add_users", "item_template", '["$user_id_field_amplitude", "$list_id", "$batch_id"]'),
        ("create_list", "payload", '{"n": "$amplitude_cohort_name", "id": "$cohort_id"}'),
    ],
)
def test_pre_defined_variables_are_accepted_where_they_have_a_value(endpoint, part, template):
    doc = acme()
    doc["endpoints"][endpoint][part] = template
    assert manifest_errors(doc) == []


def test_a_declared_variable_used_nowhere_is_a_warning():
    doc = acme()
    doc["custom_fields"].append({"variable": "unused", "display_name": "Unused"})
    diagnostic = only(doc, "custom_fields.2.variable")
    assert (diagnostic.severity, diagnostic.code) == ("warning", "unused_variable")
    assert manifest_errors(doc) == []


def test_a_variable_used_only_by_auth_counts_as_used():
    assert [d for d in check_manifest(acme()) if d.code == "unused_variable"] == []
