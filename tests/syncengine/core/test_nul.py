"""Finding the NUL character, which PostgreSQL cannot store, with where it is."""

from __future__ import annotations

from syncengine.core.nul import dotted_path, find_nul, nul_diagnostic


def test_it_finds_the_first_nul_in_document_order():
    doc = {"a": ["ok", {"b": "x\x00"}], "c": "\x00 later"}
    assert find_nul(doc) == ("a", 1, "b")


def test_a_nul_inside_a_key_is_found_at_that_key():
    assert find_nul({"fine": 1, "ba\x00d": "value"}) == ("ba\x00d",)


def test_clean_documents_and_deep_nesting_give_none():
    deep: list = []
    current = deep
    for _ in range(10_000):
        current.append([])
        current = current[0]
    assert find_nul({"a": [1, 2.5, None, True, "text"], "deep": deep}) is None


def test_the_diagnostic_shows_nul_as_the_escape_an_author_types():
    diagnostic = nul_diagnostic({"custom_fields": [{"vari\x00able": "x"}]})
    assert diagnostic is not None
    assert (diagnostic.code, diagnostic.path) == (
        "nul_character",
        "custom_fields.0.vari\\u0000able",
    )
    assert dotted_path(("a", 0, "b")) == "a.0.b"
    assert nul_diagnostic({"a": "clean"}) is None
