"""The generic shape checks every part of a manifest is checked with."""

from __future__ import annotations

from syncengine.core.manifest.shapes import ShapeChecker, shown_value


def test_a_boolean_is_not_a_number():
    checker = ShapeChecker()
    assert checker.check_type(True, bool, "flag")
    assert not checker.check_type(True, int, "count")
    assert [(d.path, d.code, d.message) for d in checker.diagnostics] == [
        ("count", "invalid_type", "must be a number, not a boolean")
    ]


def test_a_choice_names_the_value_given_briefly():
    checker = ShapeChecker()
    assert checker.check_choice({"method": "x" * 100}, "method", ("a", "b"), "auth", "bad") is None
    (diagnostic,) = checker.diagnostics
    assert diagnostic.path == "auth.method"
    assert diagnostic.message == f"must be one of a, b, not {shown_value('x' * 100)}"
    assert shown_value("x" * 100) == '"' + "x" * 40 + '..."'


def test_unknown_keys_are_reported_with_the_keys_expected():
    checker = ShapeChecker()
    checker.unknown_keys({"a": 1, "zz": 2}, ("a", "b"), "delivery")
    assert [(d.path, d.message) for d in checker.diagnostics] == [
        ("delivery.zz", "unknown key (expected: a, b)")
    ]
