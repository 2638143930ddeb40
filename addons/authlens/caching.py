"""The two caches authlens uses: ``once`` (an attribute computed on first use, per object) and
``Memo`` (a bounded function cache shared across flows). Nothing else in the code caches."""

from __future__ import annotations


class once:  # noqa: N801 - reads like the decorator it replaces
    """``functools.cached_property`` without the lock: before Python 3.12 each first access takes
    a class-wide lock (about a microsecond, a dozen times per flow). Writes ``__dict__`` directly,
    so frozen dataclasses work; objects here are used by one thread."""

    def __init__(self, func):
        self.func = func
        self.name = func.__name__
        self.__doc__ = func.__doc__

    def __set_name__(self, owner, name):
        self.name = name

    def __get__(self, instance, owner=None):
        if instance is None:
            return self
        value = instance.__dict__[self.name] = self.func(instance)
        return value


def _size(key) -> int:
    """Characters (or bytes) of the strings in ``key``; other values count for nothing."""
    if isinstance(key, (str, bytes)):
        return len(key)
    if isinstance(key, tuple):
        return sum(map(_size, key))
    return 0


class Memo(dict):
    """``func(key)`` remembered, read as ``memo[key]`` (``memo.__getitem__`` stands in for the
    function): a hit is a plain dict lookup, with no Python call around it. A tuple key is
    passed as the arguments. A key whose strings total more than ``max_chars`` is computed and
    not kept, and when ``maxsize`` keys are kept it starts over, so it stays small in bytes
    whatever clients send, without LRU bookkeeping. Values are shared: never modify one."""

    def __init__(self, func, maxsize: int, max_chars: int):
        super().__init__()
        self.func = func
        self.maxsize = maxsize
        self.max_chars = max_chars

    def __missing__(self, key):
        value = self.func(*key) if isinstance(key, tuple) else self.func(key)
        if _size(key) <= self.max_chars:
            if len(self) >= self.maxsize:
                self.clear()
            self[key] = value
        return value
