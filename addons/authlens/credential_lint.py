"""Lint how a credential was written: quotes, whitespace and invisible characters, a missing
or doubled scheme, placeholders, Basic that is not base64 of ``user:password``.

Each credential is linted once, lazily (``Credential.issues``), and every check only filters
those issues, so a clean ``Bearer <jwt>`` costs one anchored regex match. Work that could grow
with the input (naming characters, counting them) is capped at ``MAX_SCAN``; only linear C-level
operations (``str.strip``, anchored regexes) see the whole of a huge value.

Positions in messages are 1-based and counted in the part named ("of the token" = after the
scheme and any quotes; "of the Authorization value" = the header value as sent).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

from . import secrecy
from .authorization import (
    BAD_CHAR,
    JUNK,
    MAX_SCAN,
    STRICT_TOKEN68_SCHEMES,
    char_name,
    parse,
    strip_junk,
    unquote,
)
from .model import Finding
from .secrecy import redact

if TYPE_CHECKING:
    from .credentials import Credential

MAX_REPORTS = 3
"""Findings of one id per credential at most (the first ones)."""
MAX_TEMPLATE_SCAN = 8 * 1024
AMBIGUOUS_NAMES = {
    "authentication": "a different word from Authorization",
    "auth": "not the standard header",
    "token": "not the standard header",
    "x-authorization": "a non-standard variant",
}
"""Headers some APIs do read: reported only when refused and no Authorization was sent."""

_TOKEN68 = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
_TOKEN68_CHARS = re.compile(r"[A-Za-z0-9\-._~+/=]*")
_NOT_SPACE_OR_BAD = re.compile(r"[\x21-\x7e]")
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*")
_BASE64_STD = re.compile(r"[A-Za-z0-9+/]*={0,2}")


def lint(cred: Credential) -> tuple[Finding, ...]:
    """Every defect in how ``cred`` was written."""
    if cred.kind in ("auth", "misspelled"):
        return tuple(_lint_auth(cred))
    if cred.kind in ("apikey", "query", "body"):
        return tuple(_lint_simple(cred))
    if cred.kind in ("cookie", "userinfo"):
        return tuple(_placeholder(cred, cred.value))
    return ()

def _describe_char(ch: str) -> str:
    cp = ord(ch)
    if 0xDC80 <= cp <= 0xDCFF:
        return f"raw byte 0x{cp - 0xDC00:02X} (not valid UTF-8)"
    if ch == " ":
        return "space"
    return f"U+{cp:04X} {char_name(ch)}"


def _char_evidence(ch: str, position: int, where: str, count: int | None = None) -> tuple:
    cp = ord(ch)
    ev = [("position", position), ("where", where)]
    if 0xDC80 <= cp <= 0xDCFF:
        ev.insert(0, ("byte", f"0x{cp - 0xDC00:02X}"))
    else:
        ev.insert(0, ("char", f"U+{cp:04X}"))
        ev.insert(1, ("char_name", char_name(ch)))
    if count is not None and count > 1:
        ev.append(("count", count))
    return tuple(ev)


def _describe_run(run: str) -> str:
    if set(run) == {" "}:
        return f"{len(run)} space" + ("s" if len(run) > 1 else "")
    names = []
    for ch in dict.fromkeys(run[:MAX_SCAN]):
        d = _describe_char(ch)
        if d not in names:
            names.append(d)
        if len(names) == 3:
            break
    return " + ".join(names)


def _bad_chars(cred: Credential, text: str, where: str, allow_space: bool) -> Iterator[Finding]:
    """Whitespace, controls, invisible and non-ASCII characters inside ``text``."""
    pattern = BAD_CHAR if allow_space else _SPACE_OR_BAD
    m = pattern.search(text)
    if m is None:
        return
    window = text[:MAX_SCAN]
    count = len(pattern.findall(window))
    more = "+" if len(text) > MAX_SCAN else ""
    reported = 0
    for m in pattern.finditer(window):
        ch = m.group()
        pos = m.start() + 1
        extra = f" ({count}{more} such characters in all)" if count > 1 and reported == 0 else ""
        hint = _char_hint(ch, pos, len(text))
        yield Finding("credential-whitespace",
                      f"{_describe_char(ch)} at position {pos} of {where}{extra}{hint}.",
                      _char_evidence(ch, pos, where, count if reported == 0 else None))
        reported += 1
        if reported >= MAX_REPORTS or count <= 1:
            break


_SPACE_OR_BAD = re.compile(r"[^\x21-\x7e]")


def _char_hint(ch: str, pos: int, length: int) -> str:
    if ch in "\r\n":
        return ": the value was split across lines (a template or a file read without trimming)"
    if ch in "\u200b\u200c\u200d\u2060\ufeff":
        return ": invisible, usually pasted along with the token"
    if ch == "\u00a0":
        return ": a non-breaking space, usually from copying out of a web page or document"
    if ch == " ":
        return ": a space inside the credential splits it in two"
    if ch == "\u2026":
        return ": the token was copied from a truncated display"
    return ""


def _lint_edges(cred: Credential, lead: str, trail: str, label: str) -> Iterator[Finding]:
    if lead:
        yield Finding("credential-whitespace",
                      f"{_describe_run(lead)} before the {label} value.",
                      (("where", "leading"), ("chars", [f"U+{ord(c):04X}" for c in lead[:8]])))
    if trail:
        yield Finding("credential-whitespace",
                      f"{_describe_run(trail)} after the {label} value"
                      + (" (a line break read along with the secret)" if "\n" in trail[:64]
                         else "") + ".",
                      (("where", "trailing"), ("chars", [f"U+{ord(c):04X}" for c in trail[:8]])))


def _lint_quotes(cred: Credential, quotes, label: str) -> Iterator[Finding]:
    for where, what in quotes:
        if where == "inside":
            lead, trail = what
            runs = " and ".join(f"{_describe_run(r)} {side}" for r, side in
                                ((lead, "after the opening quote"), (trail, "before the end"))
                                if r)
            yield Finding("credential-whitespace", f"{runs} of the {label} credential.",
                          (("where", "token-edges"),))
            continue
        target = "the whole value" if where == "value" else "the credential"
        yield Finding("credential-quoted",
                      f"{label}: {what} {target}; quotes are not part of the credential.",
                      (("where", where), ("quotes", what)))


def _lint_auth(cred: Credential) -> Iterator[Finding]:
    label = cred.name
    p = parse(cred.raw)
    strict_kind = cred.kind == "auth"
    if p.fast and not p.empty:
        # Scheme SP token68: only a placeholder word or a Basic defect can still be wrong.
        placeholder = list(_placeholder(cred, p.value, token68=True))
        if placeholder:
            yield from placeholder
        elif p.scheme.lower() == "basic":
            yield from _lint_basic(cred, p.value)
        return
    if p.colon:
        yield Finding("header-misspelled",
                      f"The {label} value starts with ':': the header name was written with its "
                      f"colon (`{label}:`), so the server sees a value that begins with ':'.",
                      (("header", f"{label}:"), ("expected", label)))
    if not p.empty:
        yield from _lint_edges(cred, p.lead, p.trail, label)
    yield from _lint_quotes(cred, p.quotes, label)
    if p.empty and not p.duplicates:
        if p.scheme is None:
            msg = f"The {label} header is empty."
        else:
            msg = f"{label} is `{p.scheme_raw}` with nothing after it."
        yield Finding("credential-empty", msg, (("scheme", p.scheme),))
        return
    if p.duplicates:
        yield Finding("scheme-duplicated",
                      f"{label} starts with `{p.scheme_raw} {' '.join(p.duplicates)}`: "
                      "the scheme was added to a value that already had one.",
                      (("scheme", p.scheme), ("repeated", list(p.duplicates))))
        if p.empty:
            yield Finding("credential-empty",
                          f"{label} has only the scheme `{p.scheme_raw}` (twice) and no credential.",
                          (("scheme", p.scheme),))
            return
    if p.joined is not None and strict_kind:
        yield Finding("header-duplicated",
                      f"One {label} value holds two credentials joined by a comma (the second "
                      f"starts with `{p.joined}`): two headers were merged into one.",
                      (("second", p.joined),))
    if p.glued or (p.scheme and not p.separator):
        sep = f"'{p.glued}'" if p.glued else "nothing"
        yield Finding("credential-malformed",
                      f"{label}: `{p.scheme_raw}` is followed by {sep} instead of a space.",
                      (("scheme", p.scheme), ("separator", p.glued)))
    elif p.separator and p.separator != " ":
        yield Finding("credential-whitespace",
                      f"{_describe_run(p.separator)} between the scheme `{p.scheme_raw}` and the "
                      "credential; send exactly one space (many servers split on a single one).",
                      (("where", "separator"), ("chars", [f"U+{ord(c):04X}"
                                                          for c in p.separator[:8]])))

    placeholder = list(_placeholder(cred, p.value))
    yield from placeholder
    if p.params:
        yield from _bad_chars(cred, p.token, f"the {label} credential", allow_space=True)
        return
    yield from _bad_chars(cred, p.token, "the token" if p.scheme else f"the {label} value",
                          allow_space=False)
    if placeholder:
        return
    scheme = (p.scheme or "").lower()
    if p.scheme is None:
        if strict_kind:
            yield _scheme_missing(cred, p.value)
        return
    if scheme == "basic":
        yield from _lint_basic(cred, p.value)
    elif scheme in STRICT_TOKEN68_SCHEMES:
        yield from _lint_token68(cred, p.value, p.scheme_raw)


def _scheme_missing(cred: Credential, value: str) -> Finding:
    if _JWT.match(value):
        what, want = "a bare JWT", "Bearer"
    else:
        decoded = _b64_decode(value) if len(value) < 4096 else None
        if decoded is not None and b":" in decoded and _printable(decoded):
            what, want = "what looks like a base64 user:password with no `Basic `", "Basic"
        else:
            what, want = "a bare token or key", "Bearer"
    return Finding("scheme-missing",
                   f"{cred.name} holds {what}, {redact(value)}, with no scheme in front; "
                   f"expected `{cred.name}: {want} <credential>` (or the scheme the API documents).",
                   (("looks_like", want.lower()), ("length", len(value))))


def _lint_token68(cred: Credential, value: str, scheme: str) -> Iterator[Finding]:
    if _TOKEN68.fullmatch(value) is not None:
        return
    chars_ok = _TOKEN68_CHARS.match(value).end()  # type: ignore[union-attr]  # matches empty
    # Characters the whitespace check already names (non-ASCII, controls) are skipped.
    pos = chars_ok
    while pos < len(value) and pos < MAX_SCAN and not _NOT_SPACE_OR_BAD.match(value, pos):
        pos += 1
        pos = _TOKEN68_CHARS.match(value, pos).end()  # type: ignore[union-attr]  # matches empty
    if pos < len(value) and pos < MAX_SCAN:
        ch = value[pos]
        hint = _token_hint(value, ch)
        if ch in TOLERATED_CHARS and not hint:
            yield Finding("credential-unusual-char",
                          f"'{ch}' at position {pos + 1} of the {scheme} token is outside token68 "
                          "(letters, digits, -._~+/ and trailing =); many servers accept it.",
                          (("char", ch), ("position", pos + 1), ("scheme", scheme)))
            return
        yield Finding("credential-malformed",
                      f"'{ch}' at position {pos + 1} of the {scheme} token is not allowed in a "
                      f"token68 (letters, digits, -._~+/ and trailing =){hint}.",
                      (("char", ch), ("position", pos + 1), ("scheme", scheme)))
        return
    eq = value.find("=")
    if eq != -1 and _TOKEN68_CHARS.fullmatch(value):
        key = value[:eq]
        hint = (f"; it looks like `{key}=...`, a key=value pair" if re.fullmatch(r"[A-Za-z_]\w{0,31}", key)
                else "")
        yield Finding("credential-malformed",
                      f"'=' at position {eq + 1} of the {scheme} token: '=' is only allowed as "
                      f"trailing padding{hint}.",
                      (("char", "="), ("position", eq + 1), ("scheme", scheme)))


TOLERATED_CHARS = frozenset("!#$&'*^`|")
"""tchar characters outside token68 that servers accept in tokens in practice: a warning, never
the cause of a refusal."""


def _token_hint(value: str, ch: str) -> str:
    head = value[:64].lstrip()
    if head.startswith("{") or head.startswith("["):
        return "; the value is JSON (the whole token response?): send only its access_token"
    if "access_token=" in value[:4096]:
        return "; the value is a form/query string: send only the access_token value"
    if ch == "%":
        return "; the token was URL-encoded (e.g. %3D is '='): decode it before sending"
    if ch == ":":
        return "; a `user:password` or `key:secret` pair does not belong in a token"
    if ch == ",":
        return "; a list of values was sent"
    return ""


def _b64_decode(value: str) -> bytes | None:
    if not _BASE64_STD.fullmatch(value):
        return None
    try:
        return base64.b64decode(value + "=" * (-len(value) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None


def _printable(data: bytes) -> bool:
    try:
        return data.decode("utf-8").isprintable()
    except UnicodeDecodeError:
        return False


def _lint_basic(cred: Credential, value: str) -> Iterator[Finding]:
    label = f"{cred.name} Basic credential"
    if ":" in value:
        colon = value.index(":")
        yield Finding("basic-malformed",
                      f"The {label} is `user:password` in clear (':' at position {colon + 1}), "
                      "not base64-encoded.",
                      (("problem", "not-encoded"), ("colon_position", colon + 1)))
        return
    if not _BASE64_STD.fullmatch(value):
        m = re.search(r"[^A-Za-z0-9+/=]", value[:MAX_SCAN])
        if m is not None and _NOT_SPACE_OR_BAD.match(m.group()):
            ch = m.group()
            hint = (": base64url alphabet; Basic needs standard base64 (+ and /)" if ch in "-_"
                    else "")
            yield Finding("basic-malformed",
                          f"The {label} is not base64: '{ch}' at position {m.start() + 1}{hint}.",
                          (("problem", "not-base64"), ("char", ch), ("position", m.start() + 1)))
        elif m is None:
            eq = value.find("=")
            yield Finding("basic-malformed",
                          f"The {label} is not base64: '=' at position {eq + 1} is not "
                          "trailing padding.",
                          (("problem", "not-base64"), ("char", "="), ("position", eq + 1)))
        return
    if len(value) % 4 == 1:
        yield Finding("basic-malformed",
                      f"The {label} is not valid base64: its length {len(value)} cannot be "
                      "decoded (truncated?).",
                      (("problem", "bad-length"), ("length", len(value))))
        return
    decoded = _b64_decode(value)
    if decoded is None:  # pragma: no cover - guarded by the regex and length checks above
        return
    utf8 = True
    try:
        decoded.decode("utf-8")
    except UnicodeDecodeError:
        utf8 = False
    ev_utf8 = (("utf8", utf8),) if not utf8 else ()
    if len(value) % 4:
        yield Finding("basic-malformed",
                      f"The {label} lacks base64 padding (length {len(value)} is not a multiple "
                      "of 4); strict decoders reject it.",
                      (("problem", "unpadded"), ("length", len(value))) + ev_utf8)
    if b":" not in decoded:
        note = "" if utf8 else ", and the bytes are not UTF-8 (RFC 7617 §2.1)"
        yield Finding("basic-malformed",
                      f"The {label} decodes to {len(decoded)} bytes without ':'{note}: a token "
                      "or a lone user-id was sent as Basic.",
                      (("problem", "no-colon"), ("decoded_length", len(decoded))) + ev_utf8)
        return
    user, _, password = decoded.partition(b":")
    if not user and not password:
        yield Finding("credential-empty",
                      f"The {label} decodes to ':' alone: both user-id and password are empty.",
                      (("scheme", "Basic"),))
        return
    for part, what in ((user, "user-id"), (password, "password")):
        text = part.decode("utf-8", "replace").strip()
        if text.lower() in secrecy.PH_STRICT or secrecy.PH_TEMPLATE.search(text):
            yield Finding("credential-placeholder",
                          f"The {label}'s {what} is `{text[:40]}`: the variable holding it was "
                          "not set.",
                          (("part", what), ("placeholder", text[:40])))
    if password.endswith(b"\n") or user.endswith(b"\n"):
        what = "password" if password.endswith(b"\n") else "user-id"
        yield Finding("basic-malformed",
                      f"The {label} decodes to a {what} that ends in a newline: it was encoded "
                      "with the line break `echo user:pass | base64` adds (use `echo -n` or "
                      "`printf %s`).",
                      (("problem", "trailing-newline"), ("part", what)))


def _lint_simple(cred: Credential) -> Iterator[Finding]:
    """API-key headers, query and form parameters: a bare value, no scheme."""
    raw = cred.raw
    if cred.location == "header":
        lead, core, trail = strip_junk(raw)
        yield from _lint_edges(cred, lead, trail, cred.label)
    else:
        core = raw
    if not core.strip(JUNK):
        if cred.location == "header":
            yield Finding("credential-empty", f"The {cred.label} header is empty.",
                          (("name", cred.name),))
        else:
            yield Finding("credential-empty", f"The {cred.label} is empty.", (("name", cred.name),))
        return
    quotes: list = []
    token = unquote(core, quotes, "token")
    yield from _lint_quotes(cred, quotes, cred.label)
    placeholder = list(_placeholder(cred, cred.value))
    yield from placeholder
    yield from _bad_chars(cred, token, f"the {cred.label} value",
                          allow_space=cred.name.lower() in AMBIGUOUS_NAMES)


def _placeholder(cred: Credential, value: str,
                 token68: bool = False) -> Iterator[Finding]:
    """``token68``: the value is known to be token68, so no template syntax can be in it."""
    if not value:
        return
    found = None
    if token68 and ("process.env." in value or "os.environ" in value):
        m = secrecy.PH_TEMPLATE.search(value, 0, MAX_TEMPLATE_SCAN)
        found = m.group() if m is not None else None
    if found is None and len(value) <= 120:
        v = value.strip().lower()
        if v in secrecy.PH_WORDS or secrecy.PH_WHOLE.fullmatch(v) or secrecy.is_phrase_placeholder(v):
            found = value.strip()
    if found is None and not token68:
        head = value[:MAX_TEMPLATE_SCAN]
        if "{" in head or "$" in head or "<%" in head or "process.env." in head \
                or "os.environ" in head:
            m = secrecy.PH_TEMPLATE.search(head)
            if m is not None:
                found = m.group()
    if found is None:
        return
    yield Finding("credential-placeholder",
                  f"{cred.label} carries `{found[:60]}` instead of a credential: an unfilled "
                  "template or an unset variable.",
                  (("placeholder", found[:60]),))

