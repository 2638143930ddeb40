"""A rule, once validated: plain frozen objects the matcher and the checks read."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from fnmatch import fnmatchcase

from ..caching import once

USER, PRESET = "user", "preset"


def matches_any(value: str, globs: Iterable[str]) -> bool:
    return any(fnmatchcase(value, glob) for glob in globs)


@dataclass(frozen=True)
class CredentialSpec:
    """Where one expected credential goes: ``place`` is scheme | header | query | cookie."""

    place: str
    name: str = ""
    """Header, parameter or cookie name (``Authorization`` for the scheme place)."""
    schemes: tuple[str, ...] = ()
    label: str = ""

    def describe(self) -> str:
        if self.place == "scheme":
            return "Authorization: " + " or ".join(self.schemes)
        return f"{self.place} {self.name}" if self.place != "header" else f"header {self.name}"


@dataclass(frozen=True)
class TokenSpec:
    audiences: tuple[str, ...] = ()
    issuers: tuple[str, ...] = ()
    scopes: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    max_skew: int | None = None


@dataclass(frozen=True)
class Environment:
    name: str
    issuers: tuple[str, ...] = ()
    hosts: tuple[str, ...] = ()
    tenants: tuple[str, ...] = ()

    def owns_token(self, issuer: str, tenant: str) -> bool:
        return bool(issuer and matches_any(issuer, self.issuers)) or bool(tenant and tenant in self.tenants)


@dataclass(frozen=True)
class ErrorCode:
    meaning: str
    verdict: str
    fix: str = ""
    finding: str = ""
    """The catalog id the code names; empty: ``vendor-error``."""
    messages: tuple[str, ...] = ()
    """Lower-case phrases: a message holding one names this code (APIs whose errors carry only
    a message, such as GitHub's)."""


@dataclass(frozen=True)
class ErrorSpec:
    statuses: tuple[int, ...] = ()
    ok_field: str = ""
    code_fields: tuple[str, ...] = ()
    message_field: str = ""
    code_headers: tuple[str, ...] = ()
    codes: dict = field(default_factory=dict)
    """code (str) -> ErrorCode"""
    anywhere: bool = False
    """The body readers name this API's known codes on any host (its codes are distinctive)."""
    detail_fields: tuple[str, ...] = ()
    detail_headers: tuple[str, ...] = ()
    """Body fields and headers shown beside the code (Slack's ``needed`` scope)."""

    @once
    def phrases(self) -> tuple[tuple[str, str], ...]:
        """(phrase, code) of every code's ``messages``, in the order the codes are written."""
        return tuple((phrase, code) for code, known in self.codes.items()
                     for phrase in known.messages)

    @once
    def body_test(self) -> re.Pattern | None:
        """What a JSON body holding a field this reads must contain unless it uses escapes (its
        top-level name in quotes), as one search that also finds a backslash; None when a field
        has no such test (an index, a non-ASCII name): every body is then parsed."""
        needles = [rb"\\"]
        for name in (*self.code_fields, self.message_field, self.ok_field):
            top = name.split(".", 1)[0]
            if top:
                if not top.isascii() or top.isdigit():
                    return None
                needles.append(re.escape(b'"%s' % top.encode()) + rb'[".]')  # or "odata.error"
        return re.compile(b"|".join(needles))


@dataclass(frozen=True)
class Rule:
    name: str
    hosts: tuple[str, ...]
    paths: tuple[str, ...] = ()
    methods: tuple[str, ...] = ()
    enabled: bool = True
    docs: str = ""
    any_credential: bool = False
    credentials: tuple[CredentialSpec, ...] = ()
    token: TokenSpec | None = None
    environments: tuple[Environment, ...] = ()
    errors: ErrorSpec | None = None
    origin: str = USER
    source: str = ""
    line: int = 0

    @property
    def where(self) -> str:
        return f"{self.source}:{self.line}"

    def applies_to(self, path: str, method: str) -> bool:
        return ((not self.paths or path.startswith(self.paths))
                and (not self.methods or method in self.methods))

    def path_length(self, path: str) -> int:
        """Length of the longest of this rule's prefixes that ``path`` starts with."""
        if not self.paths:  # most rules: the whole host
            return 0
        return max((len(p) for p in self.paths if path.startswith(p)), default=0)

    def audiences_for(self, host: str) -> tuple[str, ...]:
        return tuple(a.replace("{host}", host) for a in self.token.audiences) if self.token else ()


@dataclass(frozen=True)
class JwksSource:
    issuer: str
    file: str = ""
    url: str = ""
    source: str = ""
    line: int = 0
