"""Caches for the hot path: ``once`` (a lock-free ``cached_property``), ``small_lru`` (an LRU
cache that never keeps a huge argument alive) and ``Memo`` (a dict that fills itself)."""

from __future__ import annotations

import functools


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


def small_lru(maxsize: int, max_chars: int):
    """``lru_cache(maxsize)`` for a function of ``str`` arguments, used only when they total at
    most ``max_chars``: longer inputs are computed each time, so the cache stays small in bytes
    (``maxsize`` x ``max_chars`` at worst), whatever clients send."""
    def decorate(func):
        cached = functools.lru_cache(maxsize=maxsize)(func)

        @functools.wraps(func)
        def call(*args):
            size = 0
            for arg in args:
                size += len(arg)
            return cached(*args) if size <= max_chars else func(*args)
        call.cache_clear = cached.cache_clear  # type: ignore[attr-defined]
        call.cache_info = cached.cache_info  # type: ignore[attr-defined]
        return call
    return decorate


class Memo(dict):
    """``func(key)`` remembered, read as ``memo[key]``: a hit is a plain dict lookup, with no
    Python call around it (an ``lru_cache`` behind a ``small_lru`` wrapper costs ~0.3 µs; this is
    for lookups made for every header of every flow). Keys are strings or tuples of strings;
    one longer than ``max_chars`` in total is computed and not kept, and when ``maxsize`` keys
    are kept it starts over, so it stays small in bytes without LRU bookkeeping."""

    def __init__(self, func, maxsize: int, max_chars: int):
        super().__init__()
        self.func = func
        self.maxsize = maxsize
        self.max_chars = max_chars

    def __missing__(self, key):
        value = self.func(*key) if isinstance(key, tuple) else self.func(key)
        size = sum(map(len, key)) if isinstance(key, tuple) else len(key)
        if size <= self.max_chars:
            if len(self) >= self.maxsize:
                self.clear()
            self[key] = value
        return value
