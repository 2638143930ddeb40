"""The rules in force, from the user's files and folders plus the presets, reloaded on change.

A file with an error keeps its last good version in force (none, if it never loaded)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from .loader import PRESETS_DIR, LoadedFile, RuleError, load_file, rule_files
from .matcher import RuleSet
from .rule import PRESET, USER

DEFAULT_RULES = str(Path(__file__).resolve().parents[3] / "rules")
"""The checkout's rules/ folder (absent in an installed package: then skipped)."""


def default_paths() -> list[str]:
    return [DEFAULT_RULES] if os.path.isdir(DEFAULT_RULES) else []


class RuleStore:
    def __init__(self, paths: Sequence[str] = (), presets: bool = True):
        self.paths = list(paths)
        self.presets = presets
        self.ruleset = RuleSet()
        self.errors: list[RuleError] = []
        self._good: dict[str, LoadedFile] = {}
        self._stamps: dict = {}

    def _sources(self) -> list[tuple[Path, str]]:
        sources = [(p, USER) for p in rule_files(self.paths)]
        if self.presets:
            sources += [(p, PRESET) for p in rule_files([str(PRESETS_DIR)])]
        return sources

    def _stamp(self, sources) -> dict:
        stamps: dict[str, object] = {}
        for path, _origin in sources:
            try:
                st = os.stat(path)
                stamps[str(path)] = (st.st_mtime_ns, st.st_size)
            except OSError:
                stamps[str(path)] = None
        for folder in self.paths:  # a file added to or removed from a folder
            if os.path.isdir(folder):
                stamps[folder] = os.stat(folder).st_mtime_ns
        return stamps

    def reload(self) -> bool:
        """Read the files again if any changed. True when the rules were (re)built."""
        sources = self._sources()
        stamps = self._stamp(sources)
        if stamps == self._stamps:
            return False
        self._stamps = stamps
        errors: list = []
        good: dict = {}
        for path, origin in sources:
            loaded = load_file(path, origin)
            key = str(path)
            if loaded.errors:
                errors.extend(loaded.errors)
                if key in self._good:
                    good[key] = self._good[key]
            else:
                good[key] = loaded
        self._good, self.errors = good, errors
        self.ruleset = RuleSet([r for f in good.values() for r in f.rules],
                               [j for f in good.values() for j in f.jwks])
        return True
