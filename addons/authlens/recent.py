"""Bounded memory for trackers: remember the newest entries, forget the oldest."""

from __future__ import annotations

from collections import OrderedDict


class Recent(OrderedDict):
    """An ordered map that keeps at most ``limit`` entries; setting a key makes it the newest."""

    def __init__(self, limit: int):
        super().__init__()
        self.limit = limit

    _set = OrderedDict.__setitem__  # called directly: ``super()`` costs a third of a set

    def __setitem__(self, key, value):
        if key in self:
            self.move_to_end(key)
        self._set(key, value)
        while len(self) > self.limit:
            self.popitem(last=False)
