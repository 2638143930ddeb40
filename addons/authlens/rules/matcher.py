"""Which rule applies to a request: cheap enough for every flow.

Hosts are indexed three ways: exact names in a dict, ``*.suffix`` globs by suffix (a host looks up
each of its parent domains), and a short list of other globs. The candidates for a host are
computed once (bounded LRU) already in priority order, so a lookup is a dict hit plus a scan of
the few rules that share the host.
"""

from __future__ import annotations

from collections.abc import Iterable
from fnmatch import fnmatchcase

from ..caching import Memo
from .rule import USER, JwksSource, Rule

_WILDCARDS = set("*?[")
HOST_CACHE = 4096

# Host specificity: an exact name beats a *.suffix glob, which beats any other glob.
EXACT, SUFFIX, OTHER = 0, 1, 2


def _host_kind(glob: str) -> int:
    if not _WILDCARDS & set(glob):
        return EXACT
    if glob.startswith("*.") and not _WILDCARDS & set(glob[2:]):
        return SUFFIX
    return OTHER


class RuleSet:
    """The rules in force. User rules outrank presets; a user rule named like a preset (enabled
    or not) replaces it."""

    def __init__(self, rules: Iterable[Rule] = (), jwks: Iterable[JwksSource] = ()):
        rules = list(rules)
        user_names = {r.name for r in rules if r.origin == USER}
        self.rules = [r for r in rules if r.enabled and (r.origin == USER or r.name not in user_names)]
        self.jwks = {j.issuer: j for j in jwks}
        self._exact: dict[str, list[tuple]] = {}
        self._suffix: dict[str, list[tuple]] = {}
        self._other: list[tuple] = []
        for order, rule in enumerate(self.rules):
            for glob in rule.hosts:
                kind = _host_kind(glob)
                entry = ((0 if rule.origin == USER else 1, kind), order, glob, rule)
                if kind == EXACT:
                    self._exact.setdefault(glob, []).append(entry)
                elif kind == SUFFIX:
                    self._suffix.setdefault(glob[2:], []).append(entry)
                else:
                    self._other.append(entry)
        self.candidates = Memo(self._candidates, HOST_CACHE, 255).__getitem__

    def __len__(self) -> int:
        return len(self.rules)

    def __reduce__(self):
        """Pickled as its rules (the host cache is rebuilt): settings travel to `authlens scan`'s
        processes."""
        return RuleSet, (self.rules, tuple(self.jwks.values()))

    def _candidates(self, host: str) -> tuple[tuple[tuple, Rule], ...]:
        found = list(self._exact.get(host, ()))
        parent = host
        while "." in parent:
            parent = parent.split(".", 1)[1]
            found.extend(self._suffix.get(parent, ()))
        found.extend(e for e in self._other if fnmatchcase(host, e[2]))
        best: dict[int, tuple] = {}
        for rank, order, _glob, rule in found:  # a rule with several matching globs: best one
            if order not in best or rank < best[order][0]:
                best[order] = (rank, rule)
        ranked = sorted(((rank, order), rule) for order, (rank, rule) in best.items())
        return tuple((rank, rule) for (rank, _order), rule in ranked)

    def match(self, host: str, path: str = "/", method: str = "GET",
              port: int | None = None) -> Rule | None:
        """The rule for a request, or None. A rule host written with a port
        (``127.0.0.1:8101``) matches only that port, and beats the same host without one."""
        return self._best(host, path, method, None, port)

    def explain(self, host: str, path: str = "/", method: str = "GET",
                port: int | None = None) -> tuple[Rule | None, list]:
        """The winning rule, and ``(rule, reason)`` for every rule whose host matched."""
        reasons: list[tuple[Rule, str]] = []
        return self._best(host, path, method, reasons, port), reasons

    def _best(self, host: str, path: str, method: str, reasons: list | None,
              port: int | None = None) -> Rule | None:
        path = path.split("?", 1)[0] or "/"
        host = host.lower()
        if port is None and ":" in host and not host.startswith("["):
            host, _, given = host.rpartition(":")  # "127.0.0.1:8101" given as the host
            port = int(given) if given.isdigit() else None
        names = ((f"{host}:{port}", 0), (host, 1)) if port is not None else ((host, 1),)
        winner, best_key = None, None
        for name, without_port in names:
            for rank, rule in self.candidates(name):
                if not without_port and not any(":" in glob for glob in rule.hosts):
                    continue  # a port-less glob ('*') matched the name with the port
                if not rule.applies_to(path, method):
                    if reasons is not None:
                        reasons.append((rule, "host matches; path or method does not"))
                    continue
                key = (rank[0], without_port, rank[1], -rule.path_length(path),
                       0 if rule.methods else 1)
                if best_key is None or key < best_key:
                    winner, best_key = rule, key
                if reasons is not None:
                    reasons.append((rule, _why(rank, rule, path)
                                    + (f", port {port}" if not without_port else "")))
        return winner

    def audience_owner(self, audience: str) -> Rule | None:
        """The rule whose API a token audience belongs to (to say 'this is a Graph token')."""
        for rule in self.rules:
            if rule.token is None:
                continue
            for pattern in rule.token.audiences:
                if "{host}" in pattern:
                    if any(fnmatchcase(audience, pattern.replace("{host}", h)) for h in rule.hosts):
                        return rule
                elif fnmatchcase(audience, pattern):
                    return rule
        return None


def _why(rank: tuple, rule: Rule, path: str) -> str:
    origin = "user rule" if rank[0] == 0 else "preset"
    host = ("exact host", "*.suffix host", "host glob")[rank[1]]
    parts = [origin, host]
    if rule.paths:
        parts.append(f"path prefix of {rule.path_length(path)} chars")
    if rule.methods:
        parts.append("method " + "/".join(rule.methods))
    return "matches: " + ", ".join(parts)
