"""The corrected request for a refused call, built from its findings: what ``authlens.retry`` sends.

Only mechanical corrections whose result the evidence fixes: quotes, stray whitespace and
invisible characters removed, a doubled scheme written once, the scheme the challenge names added
or put in place of the wrong one, ``user:password`` Basic-encoded, an API key moved to where the
rule or the challenge says, a stale token replaced by the newer one the proxy saw issued to the
same client and audience. Nothing is refreshed or guessed: a finding without such a correction
says so. Pure: a request view and a diagnosis in, a ``Corrected`` out (no mitmproxy here).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from . import catalog
from .credentials import Credential, extract_credentials
from .model import RequestView
from .oauth.grants import key, shown

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
"""RFC 9110 §9.2.1: sending these again has no side effect the client asked for."""

_TOKEN68 = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
_FORMAT_FIXES = {  # finding id -> (what was wrong, what was done)
    "credential-quoted": ("the quotes", "the quotes removed"),
    "credential-whitespace": ("the stray whitespace", "the stray whitespace removed"),
    "scheme-duplicated": ("the doubled scheme", "the scheme written once"),
}


@dataclass(frozen=True)
class Fix:
    finding: str
    noun: str
    """What was wrong: "the quotes"."""
    done: str
    """What the correction did: "the quotes removed"."""


@dataclass
class Corrected:
    """The request to send instead, what was corrected, and what could not be."""

    method: str
    url: str
    headers: list[tuple[str, str]]
    fixes: list[Fix] = field(default_factory=list)
    unfixable: list[tuple[str, str]] = field(default_factory=list)
    """(finding id, why no safe mechanical correction exists)."""
    changed: set[str] = field(default_factory=set)
    """Lower-cased names of the headers written (and ``url`` when the URL changed)."""

    @property
    def done(self) -> str:
        """``the quotes removed and the scheme added``."""
        return _join([f.done for f in self.fixes])

    @property
    def nouns(self) -> str:
        return _join([f.noun for f in self.fixes])

    def plural(self) -> bool:
        return len(self.fixes) > 1 or self.nouns.endswith(("quotes", "characters"))

    def to_dict(self) -> dict:
        return {"fixes": [f.finding for f in self.fixes], "done": self.done,
                "unfixable": [{"id": i, "why": w} for i, w in self.unfixable]}


def _join(parts: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]


NewerToken = Callable[[str], str | None]
"""``newer_token(flow_id)``: the access token the token endpoint issued in that flow, or None."""


def correct(request: RequestView, diagnosis: dict,
            newer_token: NewerToken = lambda _flow: None) -> Corrected:
    """The corrected request for ``request``, refused as ``diagnosis`` says."""
    out = Corrected(request.method, request.url, list(request.headers))
    findings = sorted(diagnosis.get("findings", []),
                      key=lambda f: -catalog.get(f["id"]).weight if f["id"] in catalog.CATALOG
                      else 0)
    creds = list(extract_credentials(request))
    done: set[str] = set()
    for finding in findings:
        fid = finding["id"]
        if fid in done:
            continue
        done.add(fid)
        why = _apply(out, fid, finding.get("evidence") or {}, finding, creds, diagnosis,
                     newer_token)
        if why is not None and (fid == diagnosis.get("cause") or fid in _FORMAT_FIXES):
            out.unfixable.append((fid, why))
    cause = diagnosis.get("cause")
    if not out.fixes and cause and all(fid != cause for fid, _ in out.unfixable):
        entry = catalog.CATALOG.get(cause)
        out.unfixable.append((cause, f"no safe mechanical correction; {entry.fix}" if entry
                              else "no safe mechanical correction"))
    return out


def _apply(out: Corrected, fid: str, evidence: dict, finding: dict, creds: list[Credential],
           diagnosis: dict, newer_token: NewerToken) -> str | None:
    """Correct ``out`` for one finding; None when done (or nothing to do), else why not."""
    if fid in _FORMAT_FIXES:
        return _rebuild(out, fid, creds)
    if fid == "scheme-missing":
        schemes = evidence.get("challenge_schemes") or []
        if len(schemes) != 1:
            return ("the server's challenge names no single scheme to add; authlens does not "
                    "guess one")
        return _with_scheme(out, creds, schemes[0], "scheme-missing",
                            ("the missing scheme", f"`{schemes[0]}` added in front"))
    if fid == "scheme-unexpected":
        accepted = evidence.get("accepted") or []
        if len(accepted) != 1:
            return "more than one scheme would do; authlens does not pick one"
        scheme = _challenge_spelling(diagnosis, accepted[0])
        return _with_scheme(out, creds, scheme, "scheme-unexpected",
                            ("the wrong scheme", f"the scheme changed to `{scheme}`"))
    if fid == "basic-malformed":
        return _encode_basic(out, creds)
    if fid == "apikey-wrong-place":
        return _move(out, creds, str(evidence.get("expected", "")), "apikey-wrong-place",
                     str(evidence.get("sent_in", "")))
    if fid in ("credential-in-url", "error-in-body", "status-unauthorized"):
        place = _challenge_place(diagnosis)
        if place and any(c.location == "query" for c in creds):
            return _move(out, creds, place, fid)
        return "no safe mechanical correction" if fid != "credential-in-url" else None
    if fid == "token-stale":
        return _newer(out, creds, evidence, finding, newer_token)
    if fid == "token-expired":
        return ("authlens refreshes nothing itself, and the proxy saw no newer token issued to "
                "this client")
    entry = catalog.CATALOG.get(fid)
    return f"no safe mechanical correction; {entry.fix}" if entry else None


def _set_header(out: Corrected, name: str, old: str | None, new: str) -> None:
    """Replace the field ``name: old`` (all fields of that name when ``old`` is None)."""
    lower = name.lower()
    fields, replaced = [], False
    for k, v in out.headers:
        if k.lower() == lower and (old is None or v == old) and not replaced:
            fields.append((k, new))
            replaced = True
        elif k.lower() == lower and old is None:
            continue
        else:
            fields.append((k, v))
    if not replaced:
        fields.append((name, new))
    out.headers = fields
    out.changed.add(lower)


def _header_creds(out: Corrected, creds: list[Credential], fid: str | None = None):
    current = {(k.lower(), v) for k, v in out.headers}
    for cred in creds:
        if cred.location != "header" or (fid is not None and fid not in cred.issue_map):
            continue
        if (cred.name.lower(), cred.raw) in current or cred.name.lower() in out.changed:
            yield cred


def _current(out: Corrected, cred: Credential) -> str:
    """The value of ``cred``'s header now (after earlier corrections)."""
    return next((v for k, v in out.headers if k.lower() == cred.name.lower()), cred.raw)


def _rebuild(out: Corrected, fid: str, creds: list[Credential]) -> str | None:
    targets = list(_header_creds(out, creds, fid))
    if not targets:
        return (None if not any(fid in c.issue_map for c in creds)
                else "the credential is not in a header; authlens corrects headers only")
    for cred in targets:
        if not _TOKEN68.fullmatch(cred.value):
            return "the credential holds more than a token once cleaned; nothing safe to rebuild"
        _set_header(out, cred.name, _current(out, cred),
                    f"{cred.scheme} {cred.value}" if cred.scheme else cred.value)
    noun, done = _FORMAT_FIXES[fid]
    out.fixes.append(Fix(fid, noun, done))
    return None


def _with_scheme(out: Corrected, creds: list[Credential], scheme: str, fid: str,
                 words: tuple[str, str]) -> str | None:
    auth = [c for c in _header_creds(out, creds) if c.kind == "auth"]
    if len(auth) != 1 or not _TOKEN68.fullmatch(auth[0].value):
        return "not exactly one Authorization header holding a token"
    _set_header(out, auth[0].name, _current(out, auth[0]), f"{scheme} {auth[0].value}")
    out.fixes.append(Fix(fid, *words))
    return None


def _challenge_spelling(diagnosis: dict, scheme: str) -> str:
    """``scheme`` as the server's challenge spells it (``Bearer``, not ``bearer``)."""
    return next((c["scheme"] for c in diagnosis.get("challenges", [])
                 if str(c.get("scheme", "")).lower() == scheme.lower()), scheme.capitalize())


def _encode_basic(out: Corrected, creds: list[Credential]) -> str | None:
    auth = [c for c in _header_creds(out, creds, "basic-malformed") if c.kind == "auth"]
    if len(auth) != 1:
        return "not exactly one Basic Authorization header"
    value = auth[0].value
    try:
        base64.b64decode(value, validate=True)
        looks_encoded = True
    except (binascii.Error, ValueError):
        looks_encoded = False
    if ":" not in value or looks_encoded:
        return ("the credential is not user:password in clear; the right encoding cannot be "
                "derived from it")
    encoded = base64.b64encode(value.encode("utf-8", "surrogateescape")).decode("ascii")
    _set_header(out, auth[0].name, _current(out, auth[0]), f"{auth[0].scheme or 'Basic'} {encoded}")
    out.fixes.append(Fix("basic-malformed", "the clear-text user:password",
                         "user:password base64-encoded"))
    return None


def _challenge_place(diagnosis: dict) -> str | None:
    """``header X-API-Key`` when the server's challenge names the header (``header="..."``)."""
    for challenge in diagnosis.get("challenges", []):
        params = {str(k).lower(): v for k, v in (challenge.get("params") or {}).items()}
        name = params.get("header")
        if isinstance(name, str) and re.fullmatch(r"[A-Za-z0-9-]{1,64}", name):
            return f"header {name}"
    return None


def _sent_in(creds: list[Credential], sent_in: str) -> list[Credential]:
    """The credential ``sent_in`` names (``header Authorization``, ``query parameter ?key=``)."""
    if sent_in.startswith("header "):
        location, name = "header", sent_in[7:]
    elif sent_in.startswith("query parameter "):
        location, name = "query", sent_in[16:].strip("?=")
    else:
        return []
    return [c for c in creds if c.location == location and c.name.lower() == name.lower()]


def _move(out: Corrected, creds: list[Credential], expected: str, fid: str,
          sent_in: str = "") -> str | None:
    """Take the one misplaced key out of the query (or another header: ``sent_in`` when the
    rule's finding names it) and put it where ``expected`` (``header NAME``, ``query NAME``)
    says."""
    place, _, name = expected.partition(" ")
    if " or " in expected or place not in ("header", "query") or not name:
        return f"the credential's place ({expected or 'unknown'}) is not one place authlens can write"
    present = {(c.location, c.name.lower()) for c in creds}
    if (place, name.lower()) in present or any(f.done.startswith("the key moved") for f in out.fixes):
        return None  # already there: nothing to move
    movable = _sent_in(creds, sent_in) or [c for c in creds if c.location in ("query", "header")
                                           and c.kind != "auth" and c.value]
    if len(movable) != 1:
        return "not exactly one credential to move; authlens does not pick one"
    cred = movable[0]
    parts = urlsplit(out.url)
    if cred.location == "query":
        kept = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != cred.name]
        out.url = urlunsplit(parts._replace(query=urlencode(kept, quote_via=quote)))
        out.changed.add("url")
    else:
        out.headers = [(k, v) for k, v in out.headers if k.lower() != cred.name.lower()]
        out.changed.add(cred.name.lower())
    if place == "header":
        _set_header(out, name, None, cred.value)
    else:
        query = parse_qsl(urlsplit(out.url).query, keep_blank_values=True) + [(name, cred.value)]
        out.url = urlunsplit(urlsplit(out.url)._replace(query=urlencode(query, quote_via=quote)))
        out.changed.add("url")
    where = "the query" if cred.location == "query" else f"header {cred.name}"
    out.fixes.append(Fix(fid, f"the key's place ({where})", f"the key moved to {place} {name}"))
    return None


def _newer(out: Corrected, creds: list[Credential], evidence: dict, finding: dict,
           newer_token: NewerToken) -> str | None:
    flow = next((link["flow"] for link in finding.get("links", [])
                 if link.get("relation") == "replaced-by"), None)
    token = newer_token(flow) if flow else None
    if not token or shown(key(token)) != evidence.get("newer_token"):
        return "the newer token is no longer in view; authlens refreshes nothing itself"
    old = [c for c in _header_creds(out, creds) if shown(key(c.value)) == evidence.get("token")]
    if len(old) != 1:
        return "the stale token is not in exactly one header"
    cred = old[0]
    _set_header(out, cred.name, _current(out, cred),
                f"{cred.scheme} {token}" if cred.scheme else token)
    out.fixes.append(Fix("token-stale", "the stale token",
                         f"the newer token {shown(key(token))} sent instead"))
    return None


def issued_token(body: bytes) -> str | None:
    """The ``access_token`` of a token endpoint's answer (JSON or form), or None."""
    text = body.decode("utf-8", "replace").strip()
    try:
        data = json.loads(text) if text.startswith("{") else dict(parse_qsl(text))
    except ValueError:
        return None
    token = data.get("access_token") if isinstance(data, dict) else None
    return token if isinstance(token, str) and token else None


def outcome(corrected: Corrected, status: int | None, refused: bool, now_says: str) -> str:
    """The line both flows get: the correction proved the cause, or it did not."""
    verb = "were" if corrected.plural() else "was"
    if status is not None and not refused:
        return (f"with {corrected.done} the server answered {status} — {corrected.nouns} {verb} "
                "the cause")
    answer = f"still {status}" if status is not None else "no answer"
    return (f"{answer}: {corrected.nouns} {verb} not the only problem; the server now says: "
            f"{now_says}")
