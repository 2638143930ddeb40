"""Bounded memory for trackers: remember the newest entries, forget the oldest."""

from __future__ import annotations

from collections import OrderedDict


class Recent(OrderedDict):
    """An ordered map that keeps at most ``limit`` entries; setting a key makes it the newest."""

    def __init__(self, limit: int):
        super().__init__()
        self.limit = limit

    def __setitem__(self, key, value):
        super().__setitem__(key, value)
        self.move_to_end(key)
        while len(self) > self.limit:
            self.popitem(last=False)
