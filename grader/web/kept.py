"""What a web process keeps of things that never change once written (an upload, a result's figures), the
least recently used dropped first past a bound on their size. Per process: nothing to invalidate, since
the keys name content that is never rewritten (an upload's digest; a result's row and creation time)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from flask import current_app

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Kept(Generic[K, V]):
    """An LRU bounded by ``limit`` in the units of ``size``; an entry larger than the bound is not kept.
    Nothing under the lock can switch greenlets (no I/O)."""

    def __init__(self, limit: int, size: Callable[[V], int]) -> None:
        self.limit, self.size_of, self.size = limit, size, 0
        self._entries: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self._guard = threading.Lock()

    def get(self, key: K) -> V | None:
        with self._guard:
            entry = self._entries.get(key)
            if entry is None:
                return None
            self._entries.move_to_end(key)
            return entry[0]

    def put(self, key: K, value: V) -> None:
        size = self.size_of(value)
        if size > self.limit:
            return
        with self._guard:
            if key in self._entries:
                return
            self._entries[key] = (value, size)
            self.size += size
            while self.size > self.limit:
                _, (_, dropped) = self._entries.popitem(last=False)
                self.size -= dropped


def kept(name: str, make: Callable[[], Kept[K, V]]) -> Kept[K, V]:
    """This app's ``name`` store (one per app: each app has its own database)."""
    key = f"grader.kept.{name}"
    found: Kept[K, V] | None = current_app.extensions.get(key)
    if found is None:  # two first requests may both make one: the one kept wins, the other is dropped
        found = current_app.extensions.setdefault(key, make())
    return found
