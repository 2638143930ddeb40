"""The rule file format, as data: the validator walks it and README's annotated example is
generated from it (``authlens rules schema``), so the two cannot drift apart."""

from __future__ import annotations

import json
import re
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# ``type`` names what a value must be; the validator and the docs use the same words.
STRING, STRINGS, INTEGER, INTEGERS, BOOLEAN = "string", "list of strings", "integer", "list of integers", "boolean"
TABLE, TABLES, TABLE_MAP = "table", "array of tables", "table of tables"

HOST_GLOB = re.compile(r"^[a-z0-9*?\[\]!._-]+(:[0-9]+)?$")
METHOD = re.compile(r"^[A-Z]+$")
VERDICTS = ("authentication", "authorization", "other")


def _host_glob(value: str) -> str | None:
    if "://" in value or "/" in value:
        return "a host glob, without scheme or path (write 'api.example.com', '*.example.com')"
    if not HOST_GLOB.match(value) or value.count("[") != value.count("]"):
        return ("a host glob of lower-case letters, digits, '.', '-', and the wildcards '*', '?', "
                "'[...]' (e.g. '*.example.com')")
    return None


def _catalog_id(value: str) -> str | None:
    from .. import catalog
    return None if value in catalog.CATALOG else "a finding id from `authlens catalog`"


def _path_prefix(value: str) -> str | None:
    return None if value.startswith("/") else "a path prefix starts with '/' (e.g. '/v1/')"


def _method(value: str) -> str | None:
    return None if METHOD.match(value) else "an HTTP method in upper case (e.g. 'GET')"


def _not_empty(value: str) -> str | None:
    return None if value.strip() else "a non-empty string"


def _non_negative(value: int) -> str | None:
    return None if value >= 0 else "an integer >= 0"


@dataclass(frozen=True)
class Key:
    """One key of a rule file: its type, what it means, an example value, how to check it."""

    name: str
    type: str
    doc: str
    example: Any = None
    """For tables: a dict; for arrays of tables: a list of dicts; keys missing from every example
    are shown commented out."""
    required: bool = False
    check: Callable[[Any], str | None] | None = None
    """For a string (or each item of a list): returns what was expected, or None when fine."""
    choices: tuple = ()
    keys: tuple = ()
    """The keys of a table, of each table in an array, of each table in a table of tables."""

    def key(self, name: str) -> Key | None:
        return next((k for k in self.keys if k.name == name), None)


CREDENTIAL = Key(
    "credential", TABLES,
    "The credentials this API expects, one table each. Several tables: all of them are needed "
    "(a gateway key plus a backend token), unless `any_credential = true`. Each table names one "
    "place: `schemes` (the Authorization header), or `header`, `query` or `cookie` (an API key).",
    [{"label": "gateway key", "header": "Ocp-Apim-Subscription-Key"},
     {"label": "backend token", "schemes": ["Bearer"]}],
    keys=(
        Key("label", STRING, "What to call this credential in messages.", check=_not_empty),
        Key("schemes", STRINGS, "Authorization schemes the API accepts: Bearer, Basic, Digest, "
            "or a custom one such as SSWS, token, Token.", check=_not_empty),
        Key("header", STRING, "Name of the header that carries the API key.", "X-API-Key",
            check=_not_empty),
        Key("query", STRING, "Name of the query parameter that carries the API key.", "api_key",
            check=_not_empty),
        Key("cookie", STRING, "Name of the cookie that carries the credential.", "session",
            check=_not_empty),
    ))

TOKEN = Key(
    "token", TABLE,
    "What a JWT sent to this API must say. Opaque tokens cannot be checked.",
    {"audiences": ["https://api.contoso.example", "api://contoso-orders"],
     "issuers": ["https://login.contoso.example/*/v2.0"],
     "scopes": ["Orders.Read"],
     "max_skew": 300},
    keys=(
        Key("audiences", STRINGS, "Accepted `aud` values (globs; `{host}` stands for the "
            "request's host).", check=_not_empty),
        Key("issuers", STRINGS, "Accepted `iss` values (globs).", check=_not_empty),
        Key("scopes", STRINGS, "Scopes the token must carry, all of them (`scp`/`scope`).",
            check=_not_empty),
        Key("roles", STRINGS, "Roles the token must carry, all of them (`roles`).", ["Orders.Admin"],
            check=_not_empty),
        Key("max_skew", INTEGER, "Clock skew, in seconds, this API tolerates on exp/nbf/iat "
            "(replaces authlens_leeway for this API).", check=_non_negative),
    ))

ENVIRONMENTS = Key(
    "environments", TABLES,
    "Named environments: which issuers/tenants mint tokens for which hosts. A token of one "
    "environment sent to a host of another gets token-issuer-mismatch naming both.",
    [{"name": "staging", "issuers": ["https://login-staging.contoso.example/*"],
      "hosts": ["api.staging.contoso.example"]},
     {"name": "production", "issuers": ["https://login.contoso.example/*"],
      "hosts": ["api.contoso.example"], "tenants": ["72f988bf-86f1-41af-91ab-2d7cd011db47"]}],
    keys=(
        Key("name", STRING, "The environment's name, as messages show it.", required=True,
            check=_not_empty),
        Key("issuers", STRINGS, "Issuers (globs) whose tokens belong to this environment.",
            check=_not_empty),
        Key("hosts", STRINGS, "Hosts (globs) of this environment.", check=_host_glob),
        Key("tenants", STRINGS, "Tenant ids (`tid`) of this environment.", check=_not_empty),
    ))

CODE = (
    Key("meaning", STRING, "What the code means, in one sentence.", required=True, check=_not_empty),
    Key("verdict", STRING, "authentication, authorization, or other (neither: configuration, "
        "quota, a disabled API).", required=True, choices=VERDICTS),
    Key("fix", STRING, "Where the fix lives.", check=_not_empty),
    Key("finding", STRING, "The catalog id this code names (e.g. token-expired, "
        "permission-missing); without one it is reported as vendor-error.", check=_catalog_id),
    Key("messages", STRINGS, "Phrases (any case) that name this code when a message holds one, "
        "for errors that carry no code of their own.", ["token has expired"], check=_not_empty),
)

ERRORS = Key(
    "errors", TABLE,
    "How this API reports auth errors, and what its error codes mean.",
    {"statuses": [200, 401, 403],
     "ok_field": "ok",
     "code_fields": ["error.code", "error.details.0.reason"],
     "message_field": "error.message",
     "code_headers": ["x-contoso-error"],
     "codes": {"TokenExpired": {"meaning": "The access token expired.", "verdict": "authentication",
                                "fix": "Refresh the token."},
               "MissingRole": {"meaning": "The caller lacks the Orders.Admin role.",
                               "verdict": "authorization"}}},
    keys=(
        Key("statuses", INTEGERS, "Statuses that can carry an auth error (a 200 for APIs that "
            "answer ok:false)."),
        Key("ok_field", STRING, "Body field that is false when the call failed (Slack: `ok`).",
            check=_not_empty),
        Key("code_fields", STRINGS, "Body fields holding the error code, dotted (`error.code`, "
            "`errors.0.reason`, `errors.*.reason` for any item); the first known code wins.",
            check=_not_empty),
        Key("message_field", STRING, "Body field holding the error message.", check=_not_empty),
        Key("code_headers", STRINGS, "Response headers holding an error code (the part before "
            "';' or ':').", check=_not_empty),
        Key("anywhere", BOOLEAN, "For presets: true lets the body readers name this API's "
            "known codes on any host, not only on its own (codes distinctive enough to tell the "
            "API). A user rule reads errors on its own hosts only.", False),
        Key("detail_fields", STRINGS, "Body fields shown beside the code (Slack's `needed`).",
            ["needed"], check=_not_empty),
        Key("detail_headers", STRINGS, "Response headers shown beside the code.",
            ["x-accepted-github-permissions"], check=_not_empty),
        Key("codes", TABLE_MAP, "Error code -> what it means.", keys=CODE),
    ))

RULE = Key(
    "rule", TABLES,
    "One rule per API (or per part of an API). The most specific matching rule applies: user "
    "rules before presets, then exact host, `*.suffix` host, other globs, then the longest path "
    "prefix, then rules that name the method.",
    [{"name": "Contoso Orders API",
      "hosts": ["api.contoso.example", "*.orders.contoso.example"],
      "paths": ["/v1/"],
      "methods": ["GET", "POST"],
      "docs": "https://docs.contoso.example/auth",
      "credential": CREDENTIAL.example, "token": TOKEN.example,
      "environments": ENVIRONMENTS.example, "errors": ERRORS.example}],
    keys=(
        Key("name", STRING, "The API's name, as messages show it. A user rule with the name of a "
            "preset replaces that preset.", required=True, check=_not_empty),
        Key("hosts", STRINGS, "Hosts this rule applies to (globs, lower case, no scheme).",
            required=True, check=_host_glob),
        Key("paths", STRINGS, "Path prefixes this rule applies to (default: all).",
            check=_path_prefix),
        Key("methods", STRINGS, "Methods this rule applies to (default: all).", check=_method),
        Key("enabled", BOOLEAN, "false switches the rule off (and, named like a preset, the "
            "preset).", True),
        Key("docs", STRING, "Where the API documents its authentication.", check=_not_empty),
        Key("any_credential", BOOLEAN, "true: one of the credential tables is enough.", False),
        CREDENTIAL, TOKEN, ENVIRONMENTS, ERRORS,
    ))

JWKS = Key(
    "jwks", TABLES,
    "Keys to verify token signatures, per issuer. authlens never fetches keys on its own: give a "
    "local file, or a URL you name here (fetched once, then cached).",
    [{"issuer": "https://login.contoso.example/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0",
      "file": "keys/contoso-jwks.json"}],
    keys=(
        Key("issuer", STRING, "The token `iss` these keys sign for (exact).", required=True,
            check=_not_empty),
        Key("file", STRING, "A JWKS JSON file (relative to this rule file).", check=_not_empty),
        Key("url", STRING, "A JWKS URL to fetch (only if you name it).",
            "https://login.contoso.example/discovery/v2.0/keys", check=_not_empty),
    ))

FILE = Key("rule file", TABLE, "A rule file (TOML).", keys=(RULE, JWKS))

# At most one of these per credential table, exactly one in fact.
CREDENTIAL_PLACES = ("schemes", "header", "query", "cookie")


# ---- the annotated example (README, ``authlens rules schema``) ----------------------------

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def annotated_example() -> str:
    """A complete rule file using every key, each explained by its ``doc``."""
    out: list[str] = []
    shown: set[int] = set()
    for key in FILE.keys:
        _tables(out, key, (key.name,), shown)
    return "\n".join(out).strip() + "\n"


def _comment(out: list[str], key: Key, shown: set[int]) -> None:
    if id(key) not in shown:
        shown.add(id(key))
        out.extend(textwrap.wrap(key.doc, 96, initial_indent="# ", subsequent_indent="# "))


def _tables(out: list[str], key: Key, path: tuple, shown: set[int]) -> None:
    out.append("")
    _comment(out, key, shown)
    for item in key.example:
        out.append(f"[[{_dotted(path)}]]")
        _body(out, key, item, path, shown, key.example)


def _body(out, key: Key, item: dict, path: tuple, shown: set[int], siblings: list) -> None:
    for sub in key.keys:
        if sub.type in (TABLE, TABLES, TABLE_MAP):
            continue
        if sub.name in item:
            _comment(out, sub, shown)
            out.append(f"{_toml_key(sub.name)} = {_toml(item[sub.name])}")
        elif id(sub) not in shown and not any(sub.name in other for other in siblings):
            _comment(out, sub, shown)
            out.append(f"# {_toml_key(sub.name)} = {_toml(sub.example)}")
    for sub in key.keys:
        if sub.name not in item:
            continue
        if sub.type == TABLES:
            _tables(out, sub, path + (sub.name,), shown)
        elif sub.type == TABLE:
            out.append("")
            _comment(out, sub, shown)
            out.append(f"[{_dotted(path + (sub.name,))}]")
            _body(out, sub, item[sub.name], path + (sub.name,), shown, [item[sub.name]])
        elif sub.type == TABLE_MAP:
            for name, entry in item[sub.name].items():
                out.append("")
                _comment(out, sub, shown)
                out.append(f"[{_dotted(path + (sub.name, name))}]")
                _body(out, sub, entry, path + (sub.name, name), shown, list(item[sub.name].values()))


def _dotted(path: tuple) -> str:
    return ".".join(_toml_key(p) for p in path)


def _toml_key(name: str) -> str:
    return name if _BARE_KEY.match(name) else json.dumps(name)


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False) if isinstance(value, str) else str(value)
