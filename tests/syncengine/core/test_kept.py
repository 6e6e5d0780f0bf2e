"""The bounded store of what a process computed lately (`Kept`)."""

from __future__ import annotations

import threading

from syncengine.core.kept import Kept


def test_a_full_store_drops_the_least_recently_used():
    kept: Kept[str, int] = Kept(2)
    kept.put("a", 1)
    kept.put("b", 2)
    assert kept.put("c", 3) == 3
    assert kept.get("a") is None
    assert (kept.get("b"), kept.get("c")) == (2, 3)
    assert kept.keys() == ["b", "c"] and len(kept) == 2


def test_a_value_found_is_the_last_to_go():
    kept: Kept[tuple[str, str], str] = Kept(2)
    kept.put(("page", "a"), "A")
    kept.put(("page", "b"), "B")
    assert kept.get(("page", "a")) == "A"
    kept.put(("page", "c"), "C")
    assert kept.get(("page", "b")) is None
    assert kept.values() == ["A", "C"]


def test_a_value_is_made_once_while_it_is_kept():
    kept: Kept[str, list[str]] = Kept(1)
    made: list[str] = []

    def make(key: str) -> list[str]:
        made.append(key)
        return [key]

    first = kept.get_or_make("a", lambda: make("a"))
    assert kept.get_or_make("a", lambda: make("a")) is first
    kept.get_or_make("b", lambda: make("b"))  # "a" goes: the store holds one
    kept.get_or_make("a", lambda: make("a"))
    assert made == ["a", "b", "a"]


def test_clear_drops_every_value():
    kept: Kept[bytes, str] = Kept(4)
    kept.put(b"a", "A")
    kept.put(b"b", "B")
    kept.clear()
    assert len(kept) == 0 and kept.get(b"a") is None and kept.get(b"b") is None


def test_threads_sharing_a_store_never_overfill_it():
    kept: Kept[int, int] = Kept(8)

    def fill(start: int) -> None:
        for number in range(start, start + 500):
            kept.put(number, number)
            kept.get(number - 3)

    threads = [threading.Thread(target=fill, args=(n * 1000,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    keys = kept.keys()
    assert len(keys) == len(kept) == 8
    assert all(kept.get(key) == key for key in keys)
