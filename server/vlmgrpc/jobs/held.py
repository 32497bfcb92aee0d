"""Accepted input bytes held in memory for the worker, so it need not read back what it was handed."""

from __future__ import annotations

from collections import OrderedDict


class BoundedBytes:
    """A dict of byte strings that forgets the oldest beyond a total size."""

    def __init__(self, limit: int):
        self.limit, self.size = limit, 0
        self._items: OrderedDict[str, bytes] = OrderedDict()

    def put(self, key: str, data: bytes) -> None:
        if len(data) > self.limit:
            return
        self.pop(key)
        self._items[key] = data
        self.size += len(data)
        while self.size > self.limit:
            self.size -= len(self._items.popitem(last=False)[1])

    def pop(self, key: str, default: bytes | None = None) -> bytes | None:
        data = self._items.pop(key, None)
        if data is None:
            return default
        self.size -= len(data)
        return data
