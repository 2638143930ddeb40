"""Scopes and roles: what a token carries and whether it covers what a call needs.

The one place that decides coverage, for the rules' required scopes, a challenge's ``scope=``,
GitHub/Slack's ``X-Accepted-OAuth-Scopes`` (any one of them will do) and a server's message.
"""

from __future__ import annotations

from collections.abc import Iterable

PARENTS = {
    "repo": ("public_repo", "repo:status", "repo_deployment", "repo:invite",
             "security_events"),
    "user": ("read:user", "user:email", "user:follow"),
    "admin:org": ("write:org", "read:org", "manage_runners:org"),
    "write:packages": ("read:packages",),
}
"""GitHub's documented scope hierarchy: a parent scope grants each of its children."""

_RANK = {"read": 0, "write": 1, "admin": 2}


def covers(have: str, want: str) -> bool:
    """True when scope ``have`` grants ``want``: equal, a documented parent (``repo`` covers
    ``public_repo``), ``user`` covers ``user:email``, or ``admin:x`` > ``write:x`` > ``read:x``."""
    if have == want or want in PARENTS.get(have, ()):
        return True
    head, _, tail = want.partition(":")
    if tail and have == head:  # user covers user:email
        return True
    have_head, _, have_tail = have.partition(":")
    return (bool(tail) and have_tail == tail and head in _RANK and have_head in _RANK
            and _RANK[have_head] >= _RANK[head])


def split(value: str | None, limit: int = 2048) -> list[str]:
    """A scope list as servers write it: space- or comma-separated."""
    if not value:
        return []
    return [s for s in value[:limit].replace(",", " ").split() if s]


def missing(required: Iterable[str], have: Iterable[str], any_of: bool = False) -> list[str]:
    """The required scopes the token lacks; with ``any_of``, all of them when none is covered
    (and none when one is)."""
    have = list(have)
    wanted = list(required)
    lacking = [w for w in wanted if not any(covers(h, w) for h in have)]
    if any_of:
        return wanted if wanted and len(lacking) == len(wanted) else []
    return lacking


def _claim_words(claims: dict, names: tuple[str, ...]) -> set[str]:
    """The words of the claims ``names``, each a space-separated string or a list of strings."""
    words: set[str] = set()
    for name in names:
        value = claims.get(name)
        if isinstance(value, str):
            words.update(value.split())
        elif isinstance(value, list):
            words.update(v for v in value if isinstance(v, str))
    return words


def token_scopes(claims: dict) -> set[str]:
    """``scp`` / ``scope`` of a token's claims (a string or a list)."""
    return _claim_words(claims, ("scp", "scope"))


def token_roles(claims: dict) -> set[str]:
    """``roles`` (Entra, most IdPs) and ``groups`` of a token's claims."""
    return _claim_words(claims, ("roles", "role", "groups", "cognito:groups"))
