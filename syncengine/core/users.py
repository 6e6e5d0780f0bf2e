"""Deterministic mock users for previews, "generated test users" and benchmarks."""

from __future__ import annotations

import copy
import itertools
import random
from collections.abc import Collection, ItemsView, Iterator, Mapping, Sequence, ValuesView
from typing import Any

MAX_GENERATED_USERS = 1_000_000
# Amplitude ids are large integers; start well away from small numbers so they look real.
# Each user gets its own slot of AMPLITUDE_ID_SPACING ids, which keeps them unique.
FIRST_AMPLITUDE_ID = 100_000_000_000
AMPLITUDE_ID_SPACING = 7_919
# Ten: the last digit of a generated user's number is its first name's (`_group_in_order`).
FIRST_NAMES = (
    "alice",
    "bob",
    "charlie",
    "dana",
    "erin",
    "frank",
    "grace",
    "heidi",
    "ivan",
    "judy",
)
COUNTRIES = ("United States", "France", "Germany", "Japan", "Brazil", "India")
PLANS = ("free", "starter", "growth", "enterprise")
EMAIL_DOMAIN = "example.com"  # reserved for documentation (RFC 2606): never a real inbox
# A random 128-bit number becomes a version-4 UUID (RFC 4122 §4.4) by setting the version
# nibble to 4 and the variant bits to 10; done by hand, as `uuid.UUID(version=4)` would, it
# costs a fraction of building a UUID object per user.
UUID_CLEAR = ((1 << 128) - 1) & ~((0xF000 << 64) | (0xC000 << 48))
UUID_SET = (0x4000 << 64) | (0x8000 << 48)


PROPERTIES = ("user_id", "amplitude_id", "device_id", "email", "country", "plan")
# Derived from each user's random draw; the others come from the user's index alone.
RANDOM_PROPERTIES = frozenset({"amplitude_id", "device_id", "country", "plan"})
# How many users `GeneratedUsers` makes at a time when read whole.
CHUNK = 10_000


def generate_users(
    n: int, *, seed: int = 0, properties: Collection[str] | None = None
) -> list[dict[str, Any]]:
    """`n` mock users, the same for the same (`n`, `seed`).

    Each has `user_id`, `amplitude_id` (int), `device_id` (a UUID), `email` and two user
    properties, `country` and `plan`. User ids and emails are unique within one call; the
    first users are the house cast (alice, bob, charlie...), which keeps previews readable.

    `properties` limits the users to those properties (unknown names are ignored), for
    callers that know what their templates read: a test of 100,000 users that sends only
    user ids need not build 500,000 other values. A property has the same value for the
    same user whichever others are asked for.
    """
    _check_count(n)
    wanted = [name for name in PROPERTIES if properties is None or name in properties]
    if not wanted:
        return [{} for _ in range(n)]
    draws = _draws(n, seed) if RANDOM_PROPERTIES.intersection(wanted) else []
    return _rows(_columns(wanted, range(n), _handles(n, seed), draws))


def generate_users_by_id(
    n: int, *, seed: int = 0, properties: Collection[str] | None = None
) -> dict[str, dict[str, Any]]:
    """The users of `generate_users(n, seed=seed, properties=...)` by `user_id` (which
    they always hold), in `user_id` order (see `GeneratedUsers`)."""
    users = GeneratedUsers(n, seed=seed, properties=properties)
    return dict(zip(users, users.between(0, n), strict=True))


class GeneratedUsers(Mapping[str, dict[str, Any]]):
    """The users of `generate_users_by_id(n, seed=seed, properties=...)`, made when they
    are read, a run of them at a time.

    Nothing is made up front but the random draws, when a drawn property is wanted. The
    ids come in groups, one per first name (see `_group_in_order`), each put in order the
    first time one of its ids is read; a user's dict and its other values are made only
    by `between`, which a sync's batches call one batch after another. A test of
    100,000 users thus sends its first batch after making a tenth of them, and makes the
    rest while the partner works. `part(start, stop)` is a run of the same users (the
    same order, the same values) as a mapping of its own, sharing what was made.
    """

    def __init__(self, n: int, *, seed: int = 0, properties: Collection[str] | None = None) -> None:
        _check_count(n)
        self._n, self._seed = n, seed
        self._wanted = [
            name
            for name in PROPERTIES
            if name == "user_id" or properties is None or name in properties
        ]
        self._draws = _draws(n, seed) if RANDOM_PROPERTIES.intersection(self._wanted) else []
        self._groups = _name_groups(n)
        self._made: dict[int, tuple[list[str], list[int]]] = {}
        self._tens: list[list[str]] = []  # shared with every part, made once (`_tens_text`)
        self._start, self._stop = 0, n
        self._positions: dict[str, int] | None = None

    def part(self, start: int, stop: int) -> GeneratedUsers:
        """The users from position `start` to `stop` (in id order) of these."""
        start, stop, _ = slice(start, stop).indices(len(self))
        run = copy.copy(self)
        run._start, run._stop = self._start + start, self._start + max(start, stop)
        run._positions = None
        return run

    def keys_between(self, start: int, stop: int) -> list[str]:
        """The ids from position `start` to `stop` (the users are in id order)."""
        return self._run(start, stop)[0]

    def between(self, start: int, stop: int) -> list[dict[str, Any]]:
        """The users from position `start` to `stop` (in id order), made now."""
        ids, order = self._run(start, stop)
        if len(self._wanted) == 1:
            return [{"user_id": value} for value in ids]
        return _rows(_columns(self._wanted, order, ids, self._draws))

    def __len__(self) -> int:
        return self._stop - self._start

    def __iter__(self) -> Iterator[str]:
        return itertools.chain.from_iterable(
            self.keys_between(start, start + CHUNK) for start in range(0, len(self), CHUNK)
        )

    def __contains__(self, key: object) -> bool:
        return self._position(key) is not None

    def __getitem__(self, key: str) -> dict[str, Any]:
        position = self._position(key)
        if position is None:
            raise KeyError(key)
        return self.between(position, position + 1)[0]

    def values(self) -> ValuesView[dict[str, Any]]:
        return _Values(self)

    def items(self) -> ItemsView[str, dict[str, Any]]:
        return _Items(self)

    def chunks(self) -> Iterator[list[dict[str, Any]]]:
        """The users in order, made a run of CHUNK at a time."""
        for start in range(0, len(self), CHUNK):
            yield self.between(start, start + CHUNK)

    def _run(self, start: int, stop: int) -> tuple[list[str], list[int]]:
        """The ids from position `start` to `stop` of these users and, when other
        properties than the id are wanted, their users' places in generation order."""
        first, last = self._start + max(0, start), self._start + min(stop, len(self))
        ids: list[str] = []
        order: list[int] = []
        offset = 0
        for number, (name, count) in enumerate(self._groups):
            low, high = max(first, offset), min(last, offset + count)
            if low < high:
                group_ids, group_order = self._group(number, name, count)
                ids.extend(group_ids[low - offset : high - offset])
                order.extend(group_order[low - offset : high - offset])
            offset += count
        return ids, order

    def _group(self, number: int, name: int, count: int) -> tuple[list[str], list[int]]:
        made = self._made.get(number)
        if made is None:
            if not self._tens:
                self._tens.append(_tens_text(self._n))
            indices = len(self._wanted) > 1
            made = _group_in_order(count, self._seed, name, indices=indices, tens=self._tens[0])
            # Shared with every part; two threads making the same group make the same one.
            self._made[number] = made
        return made

    def _position(self, key: object) -> int | None:
        """`key`'s position among these users; None when it is not one of them."""
        if self._positions is None:
            self._positions = {value: index for index, value in enumerate(self)}
        return self._positions.get(key) if isinstance(key, str) else None


class _Values(ValuesView[dict[str, Any]]):
    _mapping: GeneratedUsers

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return itertools.chain.from_iterable(self._mapping.chunks())


class _Items(ItemsView[str, dict[str, Any]]):
    _mapping: GeneratedUsers

    def __iter__(self) -> Iterator[tuple[str, dict[str, Any]]]:
        return zip(self._mapping, _Values(self._mapping), strict=True)


def _check_count(n: int) -> None:
    if not 0 <= n <= MAX_GENERATED_USERS:
        raise ValueError(f"n must be between 0 and {MAX_GENERATED_USERS}")


def _handles(n: int, seed: int) -> list[str]:
    """The users' ids (`user_id`) in generation order."""
    prefix = _seed_prefix(seed)
    names = FIRST_NAMES
    return [f"{names[index % len(names)]}-{prefix}{index + 1}" for index in range(n)]


def _seed_prefix(seed: int) -> str:
    """What a seed puts between a user id's first name and its number."""
    return "" if seed == 0 else f"{seed}-"


def _draws(n: int, seed: int) -> list[int]:
    """One 192-bit draw per user, in generation order: the low 128 bits make the device
    id, the next fields the amplitude id's offset in its slot, the country and the plan."""
    getrandbits = random.Random(seed).getrandbits
    return [getrandbits(192) for _ in range(n)]


def _name_groups(n: int) -> list[tuple[int, int]]:
    """(first name's index, how many of `n` users have it), for each first name in the
    order of their ids."""
    names = FIRST_NAMES
    in_order = sorted(range(len(names)), key=lambda index: f"{names[index]}-")
    return [(index, len(range(index, n, len(names)))) for index in in_order]


def _tens_text(n: int) -> list[str]:
    """The text of every number of tens among the users' numbers (1 to `n`): with ten
    first names, a user's number is its tens and its first name's own last digit."""
    return list(map(str, range(n // len(FIRST_NAMES) + 1)))


def _group_in_order(
    count: int, seed: int, name: int, *, indices: bool, tens: list[str]
) -> tuple[list[str], list[int]]:
    """The ids of the `count` users of the first name `name` (its index) among `n` users
    (`_name_groups`), sorted, and, with `indices`, each id's user's index in generation
    order (else an empty list); `tens` is `_tens_text(n)`.

    A user's id is its first name, "-", the seed's prefix and its number (index + 1). All
    ids of one name sort before all ids of another exactly as the two names followed by
    "-" do (names are letters, which sort after "-"), so each name's ids are sorted on
    their own: see `_name_groups`. The numbers of a name are name + 1, name + 11, ...:
    with ten first names, each is the text of its tens followed by the name's last digit,
    so the ten names share one conversion of numbers to text, and a name's ids are made
    by one join and one split, in C, rather than one by one.
    """
    names = FIRST_NAMES
    first, last = divmod(name + 1, len(names))
    run = tens[first : first + count]
    if not run:
        return [], []
    prefix, digit = f"{names[name]}-{_seed_prefix(seed)}", str(last)
    ids = (prefix + (digit + "\n" + prefix).join(run) + digit).split("\n")
    if first == 0:
        ids[0] = prefix + digit  # a number below ten has no tens
    order: list[int] = []
    if indices:
        places = sorted(range(len(ids)), key=ids.__getitem__)
        ids = list(map(ids.__getitem__, places))
        order = [name + place * len(names) for place in places]
    else:
        ids.sort()
    return ids, order


def _columns(
    wanted: Sequence[str], indices: Sequence[int], ids: Sequence[str], draws: Sequence[int]
) -> dict[str, list[Any]]:
    """Each wanted property's values for the users at `indices` (their places in
    generation order), whose ids are `ids`; `draws` holds every user's random draw when
    a wanted property is drawn."""
    columns: dict[str, list[Any]] = {}
    if "user_id" in wanted:
        columns["user_id"] = list(ids)
    chosen = list(map(draws.__getitem__, indices)) if draws else []
    if "amplitude_id" in wanted:
        columns["amplitude_id"] = [
            FIRST_AMPLITUDE_ID
            + index * AMPLITUDE_ID_SPACING
            + (bits >> 128 & 0xFFFFF) % AMPLITUDE_ID_SPACING
            for index, bits in zip(indices, chosen, strict=True)
        ]
    if "device_id" in wanted:
        columns["device_id"] = [_device_id(bits) for bits in chosen]
    if "email" in wanted:
        columns["email"] = [f"{handle.replace('-', '.')}@{EMAIL_DOMAIN}" for handle in ids]
    if "country" in wanted:
        columns["country"] = [
            COUNTRIES[(bits >> 148 & 0xFFFFF) % len(COUNTRIES)] for bits in chosen
        ]
    if "plan" in wanted:
        columns["plan"] = [PLANS[(bits >> 168) % len(PLANS)] for bits in chosen]
    return columns


def _rows(columns: dict[str, list[Any]]) -> list[dict[str, Any]]:
    if len(columns) == 1:
        ((name, values),) = columns.items()
        return [{name: value} for value in values]
    keys = tuple(columns)
    return [dict(zip(keys, row, strict=True)) for row in zip(*columns.values(), strict=True)]


def _device_id(bits: int) -> str:
    digits = f"{bits & UUID_CLEAR | UUID_SET:032x}"
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"
