from syncengine.core.manifest_diff import flatten, manifest_diff


def test_flatten_uses_dotted_paths_with_indexes():
    assert flatten({"a": {"b": [1, {"c": 2}]}, "e": [], "f": {}}) == {
        "a.b.0": 1,
        "a.b.1.c": 2,
        "e": [],
        "f": {},
    }


def test_it_reports_added_removed_and_changed_paths():
    before = {"display_name": "Acme", "custom_fields": [{"variable": "a"}], "old": 1}
    after = {"display_name": "Acme 2", "custom_fields": [{"variable": "a"}, {"variable": "b"}]}
    changes = {(c.path, c.kind): (c.before, c.after) for c in manifest_diff(before, after)}
    assert changes == {
        ("display_name", "changed"): ("Acme", "Acme 2"),
        ("custom_fields.1.variable", "added"): (None, "b"),
        ("old", "removed"): (1, None),
    }


def test_multiline_templates_get_a_line_diff():
    before = {"endpoints": {"add_users": {"payload": '{\n  "ids": $items\n}'}}}
    after = {"endpoints": {"add_users": {"payload": '{\n  "userIds": $items\n}'}}}
    (change,) = manifest_diff(before, after)
    assert '-  "ids": $items' in change.text_diff
    assert '+  "userIds": $items' in change.text_diff


def test_identical_manifests_have_no_changes_and_the_logo_is_ignored():
    doc = {"display_name": "A", "logo_png_base64": "AAAA"}
    assert manifest_diff(doc, {**doc, "logo_png_base64": "BBBB"}) == []
    assert manifest_diff(None, {"a": 1})[0].kind == "added"
