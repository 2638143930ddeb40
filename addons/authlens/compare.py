"""A working and a failing request side by side: only what matters for auth.

``rows(a, b)`` lines up, for two exchanges, the raw bytes of every credential-carrying header
(quotes, spaces and invisible characters made visible, secrets redacted), the scheme, where the
credential travelled, the token claims that decide acceptance, the host and the verdict. Renderers
(``authlens diff``, the ``authlens.diff`` mitmproxy command) only format these rows.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from .analyze import Analyzer, Context
from .model import Exchange
from .render.text import headline
from .secrecy import Redactor, fingerprint, is_secret_header, is_secret_param

ABSENT = "(absent)"
CLAIMS = ("iss", "aud", "azp", "appid", "tid", "scope", "scp", "roles", "nbf", "exp")
_SHOWN = {" ": "·", "\t": "→", "\r": "␍", "\n": "␊"}


def visible(text: str) -> str:
    """Spaces as ``·``, tabs and line breaks as arrows, anything invisible or non-ASCII as
    ``<U+200B>``, undecodable bytes as ``<0xNN>``."""
    out = []
    for char in text:
        code = ord(char)
        if char in _SHOWN:
            out.append(_SHOWN[char])
        elif 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8 (surrogateescape)
            out.append(f"<0x{code - 0xDC00:02X}>")
        elif code > 126 or not char.isprintable():
            out.append(f"<U+{code:04X}>")
        else:
            out.append(char)
    return "".join(out)


def mask(secret: str) -> str:
    """A secret as ``[eyJh..k9Qw:812ch#1a2b3c4d]``: ASCII, no spaces, so ``visible`` keeps it."""
    shown = f"{secret[:4]}..{secret[-4:]}:" if len(secret) >= 24 else ""
    return f"[{shown}{len(secret)}ch#{fingerprint(secret)}]"


def _masked(name: str, value: str) -> str:
    return visible(Redactor(replace=mask).header(name, value))


def _auth_headers(exchange: Exchange) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in exchange.request.headers:
        lower = name.lower()
        if lower == "cookie" or is_secret_header(lower):
            shown = _masked(name, value)
            out[lower] = f"{out[lower]} | {shown}" if lower in out else shown
    return out


def _query_credentials(exchange: Exchange) -> dict[str, str]:
    return {f"query {name}": visible(mask(value))
            for name, value in parse_qsl(exchange.request.query, keep_blank_values=True)
            if is_secret_param(name)}


def _token(ctx: Context) -> dict:
    token = ctx.tokens[0].describe(now=ctx.sent_at) if ctx.tokens else {}
    claims = {name: str(token.get("times", {}).get(name, value))
              for name, value in token.get("claims", {}).items() if name in CLAIMS}
    if token:
        claims["kind"] = token["kind"] + (f" ({token['problem']})" if token.get("problem") else "")
    return claims


def _facts(exchange: Exchange, analyzer: Analyzer) -> dict[str, str]:
    request, response = exchange.request, exchange.response
    ctx = Context(exchange, analyzer.settings)
    credentials = "; ".join(f"{c.location} {c.name} ({c.scheme or 'no scheme'})"
                            for c in ctx.credentials) or "none"
    path = visible(Redactor(replace=mask).url(request.path))
    facts = {"request": f"{request.method} {path}",
             "host": f"{request.scheme}://{request.host}" + (f":{request.port}" if request.port
                                                              not in (80, 443) else ""),
             "status": f"{response.status} {response.reason}".strip() if response else "no response",
             "credential": credentials}
    facts.update({f"header {name}": value for name, value in _auth_headers(exchange).items()})
    facts.update(_query_credentials(exchange))
    facts.update({f"token {name}": value for name, value in _token(ctx).items()})
    facts["verdict"] = headline(analyzer.analyze(exchange).to_dict()) or "ok"
    return facts


def rows(a: Exchange, b: Exchange, analyzer: Analyzer | None = None) -> list[tuple[str, str, str]]:
    """``(aspect, in a, in b)`` for every auth-relevant aspect of either exchange, in a stable
    order (request, host, status, credentials, headers, query, token claims, verdict)."""
    analyzer = analyzer or Analyzer()
    facts_a, facts_b = _facts(a, analyzer), _facts(b, analyzer)
    aspects = list(dict.fromkeys([*facts_a, *facts_b]))
    aspects.sort(key=lambda k: (k == "verdict", k.startswith("token"), k.startswith("query"),
                                k.startswith("header")))
    return [(k, facts_a.get(k, ABSENT), facts_b.get(k, ABSENT)) for k in aspects]


def differences(table: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    return [row for row in table if row[1] != row[2]]
