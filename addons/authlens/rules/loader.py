"""Rule files (TOML) -> validated :class:`Rule` objects, or errors that say file:line and what
was expected. The schema (``schema.py``) decides what is valid; this module only walks it."""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..caching import Memo
from . import schema
from .rule import (
    PRESET,
    USER,
    CredentialSpec,
    Environment,
    ErrorCode,
    ErrorSpec,
    JwksSource,
    Rule,
    TokenSpec,
)

PRESETS_DIR = Path(__file__).resolve().parent.parent / "presets"
_TOML_LINE = re.compile(r"at line (\d+)")


@dataclass(frozen=True)
class RuleError:
    """One problem in one rule file."""

    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


@dataclass(frozen=True)
class LoadedFile:
    path: str
    rules: tuple[Rule, ...] = ()
    jwks: tuple[JwksSource, ...] = ()
    errors: tuple[RuleError, ...] = ()


def rule_files(paths: Iterable[str]) -> list[Path]:
    """The ``*.toml`` files named by ``paths`` (files as given, folders sorted, not recursive)."""
    found = []
    for entry in paths:
        path = Path(entry).expanduser()
        if path.is_dir():
            found.extend(sorted(p for p in path.glob("*.toml") if p.is_file()))
        else:
            found.append(path)
    return found


def load_file(path: Path, origin: str = USER) -> LoadedFile:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return LoadedFile(str(path), errors=(RuleError(str(path), 0, f"cannot read: {exc}"),))
    return _LOADED_TEXTS[text, str(path), origin]


def load_text(text: str, path: str = "<rules>", origin: str = USER) -> LoadedFile:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = _TOML_LINE.search(str(exc))
        line = int(found.group(1)) if found else len(text.splitlines())  # "at end of document"
        message = re.sub(r" \(at (line \d+, column \d+|end of document)\)", "", str(exc))
        return LoadedFile(path, errors=(RuleError(path, line, f"not valid TOML: {message}"),))
    problems = list(validate(data, schema.FILE))
    lines = key_lines(text)
    if problems:
        return LoadedFile(path, errors=tuple(RuleError(path, _line_of(lines, where), message)
                                             for where, message in problems))
    base = os.path.dirname(path)
    rules = tuple(_rule(item, origin, path, _line_of(lines, ("rule", i)))
                  for i, item in enumerate(data.get("rule", [])))
    jwks = tuple(JwksSource(item["issuer"], _resolve(base, item.get("file", "")), item.get("url", ""),
                            path, _line_of(lines, ("jwks", i))) for i, item in enumerate(data.get("jwks", [])))
    return LoadedFile(path, rules, jwks)


_LOADED_TEXTS = Memo(load_text, 64, 512 * 1024)
"""A file read again unchanged is not parsed again: the presets are read both for their error
tables (``bodies.PRESET_ERRORS``) and as rules (``RuleStore``), and what they make is frozen."""


def load_presets() -> list[LoadedFile]:
    return [load_file(p, PRESET) for p in rule_files([str(PRESETS_DIR)])]


# ---- validation -----------------------------------------------------------------------------

_TYPE_CHECKS = {
    schema.STRING: lambda v: isinstance(v, str),
    schema.INTEGER: lambda v: isinstance(v, int) and not isinstance(v, bool),
    schema.BOOLEAN: lambda v: isinstance(v, bool),
    schema.TABLE: lambda v: isinstance(v, dict),
    schema.TABLE_MAP: lambda v: isinstance(v, dict) and all(isinstance(x, dict) for x in v.values()),
    schema.STRINGS: lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
    schema.INTEGERS: lambda v: isinstance(v, list) and all(
        isinstance(x, int) and not isinstance(x, bool) for x in v),
    schema.TABLES: lambda v: isinstance(v, list) and all(isinstance(x, dict) for x in v),
}


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    return {bool: "a boolean", int: "an integer", float: "a float", str: "a string",
            dict: "a table"}.get(type(value), type(value).__name__)


def validate(data: dict, spec: schema.Key, where: tuple = ()) -> Iterable[tuple[tuple, str]]:
    """``(key path, message)`` for every problem in table ``data`` checked against ``spec``."""
    table = ".".join(str(p) for p in where if not isinstance(p, int)) or "the top level"
    for name, value in data.items():
        key = spec.key(name)
        path = where + (name,)
        if key is None:
            known = [k.name for k in spec.keys]
            close = difflib.get_close_matches(name, known, 1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            yield path, (f"unknown key '{name}' in {_brackets(table)}{hint}; expected one of: "
                         f"{', '.join(known)}")
            continue
        yield from _validate_value(key, value, path)
    for key in spec.keys:
        if key.required and key.name not in data:
            yield where, f"missing required key '{key.name}' in {_brackets(table)}: {key.doc}"
    if spec is schema.CREDENTIAL:
        places = [p for p in schema.CREDENTIAL_PLACES if p in data]
        if len(places) != 1:
            yield where, ("a credential table names exactly one place: one of "
                          f"{', '.join(schema.CREDENTIAL_PLACES)}" + (
                              f" (this one has {', '.join(places)})" if places else ""))
    if spec is schema.JWKS and ("file" in data) == ("url" in data):
        yield where, "a jwks table names exactly one of 'file' or 'url'"


def _validate_value(key: schema.Key, value: Any, path: tuple) -> Iterable[tuple[tuple, str]]:
    dotted = ".".join(str(p) for p in path if not isinstance(p, int))
    if not _TYPE_CHECKS[key.type](value):
        yield path, f"'{dotted}' must be {_article(key.type)}, not {_kind(value)}: {key.doc}"
        return
    if key.choices and value not in key.choices:
        yield path, f"'{dotted}' must be one of {', '.join(key.choices)}, not {value!r}"
    if key.check is not None:
        for item in value if isinstance(value, list) else [value]:
            expected = key.check(item)
            if expected:
                yield path, f"'{dotted}' has {item!r}: expected {expected}"
    if key.type == schema.TABLE:
        yield from validate(value, key, path)
    elif key.type == schema.TABLES:
        for i, item in enumerate(value):
            yield from validate(item, key, path + (i,))
    elif key.type == schema.TABLE_MAP:
        for name, item in value.items():
            yield from validate(item, key, path + (name,))


def _brackets(table: str) -> str:
    return table if table == "the top level" else f"[{table}]"


def _article(type_name: str) -> str:
    return ("an " if type_name[0] in "aeiou" else "a ") + type_name


# ---- where a key is written ---------------------------------------------------------------

_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"^\s*([A-Za-z0-9_\-\"'.\s]+?)\s*=")


def _split_key(text: str) -> list[str]:
    return [part.strip().strip("\"'") for part in re.findall(r'"[^"]*"|\'[^\']*\'|[^.]+', text)]


def key_lines(text: str) -> dict[tuple, int]:
    """Key path -> line number, for table headers and ``key =`` lines (tomllib gives line numbers
    for syntax errors only). Array-of-tables entries are numbered as the parser numbers them."""
    lines: dict[tuple, int] = {}
    counts: dict[tuple, int] = {}
    current: tuple = ()
    for number, line in enumerate(text.splitlines(), 1):
        header = _HEADER.match(line)
        if header:
            names = _split_key(header.group(2))
            concrete: tuple = ()
            for i, name in enumerate(names):
                concrete += (name,)
                last = i == len(names) - 1
                if last and header.group(1) == "[[":
                    counts[concrete] = counts.get(concrete, -1) + 1
                    concrete += (counts[concrete],)
                elif concrete in counts:
                    concrete += (counts[concrete],)
            current = concrete
            lines.setdefault(current, number)
            continue
        key = _KEY.match(line)
        if key:
            lines.setdefault(current + tuple(_split_key(key.group(1))), number)
    return lines


def _line_of(lines: dict[tuple, int], where: tuple) -> int:
    """The line of ``where``, or of its nearest enclosing key that has one."""
    while where:
        if where in lines:
            return lines[where]
        where = where[:-1]
    return 1


# ---- building rules -------------------------------------------------------------------------


def _resolve(base: str, file: str) -> str:
    return os.path.join(base, os.path.expanduser(file)) if file else ""


def _strs(data: dict, name: str) -> tuple[str, ...]:
    return tuple(data.get(name, ()))


def _credential(data: dict) -> CredentialSpec:
    if "schemes" in data:
        return CredentialSpec("scheme", "Authorization", _strs(data, "schemes"), data.get("label", ""))
    place = next(p for p in ("header", "query", "cookie") if p in data)
    return CredentialSpec(place, data[place], (), data.get("label", ""))


def _rule(data: dict, origin: str, path: str, line: int) -> Rule:
    token = data.get("token")
    errors = data.get("errors")
    return Rule(
        name=data["name"],
        hosts=tuple(h.lower() for h in data["hosts"]),
        paths=_strs(data, "paths"),
        methods=_strs(data, "methods"),
        enabled=data.get("enabled", True),
        docs=data.get("docs", ""),
        any_credential=data.get("any_credential", False),
        credentials=tuple(_credential(c) for c in data.get("credential", ())),
        token=TokenSpec(_strs(token, "audiences"), _strs(token, "issuers"), _strs(token, "scopes"),
                        _strs(token, "roles"), token.get("max_skew")) if token is not None else None,
        environments=tuple(Environment(e["name"], _strs(e, "issuers"),
                                       tuple(h.lower() for h in e.get("hosts", ())),
                                       _strs(e, "tenants"))
                           for e in data.get("environments", ())),
        errors=ErrorSpec(
            tuple(errors.get("statuses", ())), errors.get("ok_field", ""),
            _strs(errors, "code_fields"), errors.get("message_field", ""),
            _strs(errors, "code_headers"),
            {str(code): ErrorCode(c["meaning"], c["verdict"], c.get("fix", ""), c.get("finding", ""),
                                  tuple(m.lower() for m in c.get("messages", ())))
             for code, c in errors.get("codes", {}).items()},
            errors.get("anywhere", False), _strs(errors, "detail_fields"),
            _strs(errors, "detail_headers"),
        ) if errors is not None else None,
        origin=origin, source=path, line=line,
    )

