"""Cohort names as URL-safe slugs (`slugify_cohort_name`)."""

from __future__ import annotations

from syncengine.core.slugify import MAX_SLUG_LENGTH, slugify


def test_slugify_follows_the_documented_example():
    assert slugify("Saturday's cohort & héllo") == "Saturday-s-cohort-he-llo"


def test_slugify_collapses_runs_and_cuts_to_the_limit():
    assert slugify("a  --  b") == "a-b"
    assert slugify("é" * 300) == "e-" * (MAX_SLUG_LENGTH // 2)
    assert len(slugify("x" * 500)) == MAX_SLUG_LENGTH


def test_slugify_keeps_underscores_and_digits():
    assert slugify("power_users_2024") == "power_users_2024"
