"""A bounded store of what a process computed lately, by a key of what it was computed from.

The engine, the editor and the pages each keep the last few answers of some costly pure
function (a compiled request, a configuration's fingerprint, a rendered fragment) so that
asking again for the same thing computes nothing. `Kept` is that store: the least recently
used entry goes first when it is full, and the threads of a worker share it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable


class Kept[K: Hashable, V]:
    """The last `size` values computed in this process, by a key of what they were computed
    from (shared by the threads of a worker).

    A value found by `get` counts as used again: it is the last to go. Values are never
    None: `get` answers None for a key it does not hold."""

    def __init__(self, size: int):
        self.size = size
        self._values: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        """The value kept by `key`, or None."""
        with self._lock:
            found = self._values.get(key)
            if found is not None:
                self._values.move_to_end(key)
            return found

    def put(self, key: K, value: V) -> V:
        """Keep `value` by `key`, dropping the least recently used beyond `size`; answers
        `value`."""
        with self._lock:
            self._values[key] = value
            while len(self._values) > self.size:
                self._values.popitem(last=False)
        return value

    def get_or_make(self, key: K, make: Callable[[], V]) -> V:
        """The value kept by `key`, or `make()` kept by it. `make` runs outside the lock:
        two threads asking at once for a key not kept may both make it, the last kept."""
        found = self.get(key)
        if found is not None:
            return found
        return self.put(key, make())

    def clear(self) -> None:
        """Drop every value (tests, to start as a fresh process does)."""
        with self._lock:
            self._values.clear()

    def keys(self) -> list[K]:
        """The keys kept now, least recently used first."""
        with self._lock:
            return list(self._values)

    def values(self) -> list[V]:
        """The values kept now, least recently used first."""
        with self._lock:
            return list(self._values.values())

    def __len__(self) -> int:
        with self._lock:
            return len(self._values)
