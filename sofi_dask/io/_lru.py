"""A small per-process cache, least recently used out: the files already checked of a frame
sequence (:mod:`sofi_dask.io._tiff_frames`) and the open ``TiffFile`` objects of page-mode
reads (:mod:`sofi_dask.io._tiff_read`).

Examples
--------
>>> closed = []
>>> cache = LruCache(2, on_evict=closed.append)
>>> cache.put("a", 1); cache.put("b", 2)
>>> cache.get("a")  # now the most recently used
1
>>> cache.get_or_add("c", lambda: 3), cache.get("b"), closed
(3, None, [2])
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

__all__ = ["LruCache"]

V = TypeVar("V")


class LruCache(Generic[V]):
    """Thread-safe map of at most ``maxsize`` items; ``on_evict(value)`` is called (under the
    cache's lock) for each item pushed out."""

    def __init__(self, maxsize: int, on_evict: Callable[[V], None] | None = None) -> None:
        self.maxsize = maxsize
        self.on_evict = on_evict
        self._lock = threading.Lock()
        self._items: OrderedDict[Hashable, V] = OrderedDict()

    def get(self, key: Hashable) -> V | None:
        """The value of ``key`` (now the most recently used), or None."""
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def get_or_add(self, key: Hashable, make: Callable[[], V]) -> V:
        """The value of ``key``, made by ``make()`` (under the lock) when it is missing."""
        with self._lock:
            value = self._items.get(key)
            if value is None:
                value = make()
                self._add(key, value)
            else:
                self._items.move_to_end(key)
            return value

    def put(self, key: Hashable, value: V) -> None:
        """Set ``key`` (the most recently used)."""
        with self._lock:
            self._add(key, value)

    def _add(self, key: Hashable, value: V) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.maxsize:
            _, old = self._items.popitem(last=False)
            if self.on_evict is not None:
                self.on_evict(old)
