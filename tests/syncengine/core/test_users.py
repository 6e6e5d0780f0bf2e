"""Deterministic mock users."""

from __future__ import annotations

import uuid

import pytest

from syncengine.core.users import (
    COUNTRIES,
    FIRST_NAMES,
    MAX_GENERATED_USERS,
    PLANS,
    GeneratedUsers,
    generate_users,
    generate_users_by_id,
)


def test_the_same_seed_gives_the_same_users():
    assert generate_users(50, seed=3) == generate_users(50, seed=3)


def test_another_seed_gives_other_users():
    assert generate_users(5, seed=1) != generate_users(5, seed=2)


def test_users_have_the_amplitude_identifiers_and_properties():
    alice = generate_users(1)[0]
    assert set(alice) == {"user_id", "amplitude_id", "device_id", "email", "country", "plan"}
    assert alice["user_id"] == "alice-1"
    assert alice["email"] == "alice.1@example.com"
    assert isinstance(alice["amplitude_id"], int)
    assert len(alice["device_id"]) == 36


def test_device_ids_are_version_4_uuids_and_properties_vary():
    users = generate_users(500, seed=4)
    for user in users:
        device_id = uuid.UUID(user["device_id"])
        assert (str(device_id), device_id.version) == (user["device_id"], 4)
        assert device_id.variant == uuid.RFC_4122
    assert {user["country"] for user in users} == set(COUNTRIES)
    assert {user["plan"] for user in users} == set(PLANS)


def test_the_cast_comes_first():
    assert [u["user_id"] for u in generate_users(3)] == ["alice-1", "bob-2", "charlie-3"]
    assert generate_users(len(FIRST_NAMES) + 1)[-1]["user_id"] == "alice-11"


def test_identifiers_are_unique():
    users = generate_users(5_000, seed=9)
    for key in ("user_id", "amplitude_id", "device_id", "email"):
        assert len({user[key] for user in users}) == len(users), key


def test_a_prefix_is_stable():
    """Asking for more users keeps the first ones, so previews and tests agree."""
    assert generate_users(10)[:3] == generate_users(3)


def test_zero_users_and_bad_counts():
    assert generate_users(0) == []
    with pytest.raises(ValueError):
        generate_users(-1)
    for properties in ({"user_id"}, None):
        with pytest.raises(ValueError):
            generate_users_by_id(-1, properties=properties)
        with pytest.raises(ValueError):
            generate_users_by_id(MAX_GENERATED_USERS + 1, properties=properties)


@pytest.mark.parametrize(
    "properties", [None, {"user_id"}, {"email"}, {"plan", "device_id"}, {"user_id", "unknown"}]
)
@pytest.mark.parametrize(
    ("count", "seed"),
    [(1_234, 2), (0, 0), (1, 0), (9, 1), (10, 0), (11, 0), (101, 3), (20_011, 0)],
)
def test_users_by_id_are_the_same_users_in_id_order(properties, count, seed):
    users = generate_users(count, seed=seed, properties=properties and {"user_id", *properties})
    by_id = generate_users_by_id(count, seed=seed, properties=properties)
    assert list(by_id.items()) == sorted(
        ((user["user_id"], user) for user in users), key=lambda pair: pair[0]
    )


@pytest.mark.parametrize("properties", [None, {"user_id"}, {"plan", "email"}])
@pytest.mark.parametrize(("count", "seed"), [(0, 0), (1, 0), (23, 4), (1_234, 2), (25_003, 0)])
def test_generated_users_made_on_reading_are_the_users_by_id(properties, count, seed):
    by_id = generate_users_by_id(count, seed=seed, properties=properties)
    users = GeneratedUsers(count, seed=seed, properties=properties)
    assert len(users) == count
    assert list(users) == users.keys_between(0, count) == list(by_id)
    assert list(users.values()) == list(by_id.values())
    assert list(users.items()) == list(by_id.items())
    assert users == by_id
    values = list(by_id.values())
    for start, stop in ((0, 1), (3, 17), (max(0, count - 5), count + 5)):
        assert users.between(start, stop) == values[start:stop]
        assert users.keys_between(start, stop) == list(by_id)[start:stop]


def test_a_part_of_generated_users_is_that_run_of_them():
    properties = {"user_id", "country", "amplitude_id"}
    by_id = generate_users_by_id(40, seed=3, properties=properties)
    keys = list(by_id)
    part = GeneratedUsers(40, seed=3, properties=properties).part(30, 40)
    assert len(part) == 10
    assert list(part.items()) == [(key, by_id[key]) for key in keys[30:]]
    assert part.between(2, 4) == [by_id[key] for key in keys[32:34]]
    assert part[keys[35]] == by_id[keys[35]]
    assert keys[35] in part
    for outside in (keys[5], "nobody", 7):
        assert outside not in part
    with pytest.raises(KeyError):
        part[keys[5]]
    assert list(part.part(5, 10)) == keys[35:]
    assert list(part.part(-3, 100)) == keys[37:]
