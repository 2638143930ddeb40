"""What a secret is, and how one is shown without being revealed: the one policy that credential
extraction, the checks, the rules, display and ``authlens redact`` all read.

A secret is named by where it stands: a header (``Authorization``, ``X-API-Key``, ``Cookie``), a
query, fragment or form field (``access_token``, ``password``, ``code``), a cookie, a JSON key
(``client_secret``), an XML element (``Password``). Its value is never judged by its letters (an
all-letter password is a password); only unfilled templates and the placeholders clients send
instead of a secret (``{{token}}``, ``undefined``, ``YOUR_API_KEY``) are left as they are.

Fingerprints (``#1a2b3c4d``) tell two secrets apart: an HMAC keyed with a random key kept on this
machine (``key_file``), so the short ids in shared output and redacted captures cannot be used to
check a guessed password offline, and stay the same from one run to the next here.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import threading
from collections.abc import Callable
from urllib.parse import quote, quote_plus, unquote, unquote_plus, urlsplit

from .caching import Memo

log = logging.getLogger("authlens")

# ---- placeholders: what clients send instead of a secret ---------------------------------

PH_WORDS = frozenset("""
null undefined none nil nan [object object] [object] object {} [] "" '' token access_token
accesstoken access-token bearer apikey api_key api-key key secret password passwd changeme
change_me change-me changeit todo tbd fixme placeholder example sample dummy string redacted
[redacted] <redacted> hidden masked ... … xxx mytoken my_token my-token yourtoken your_token
your-token your-api-key your_api_key yourapikey insert_token_here token_here api_key_here
replace_me replaceme secret_here jwt <jwt> false true
""".split()) | {"[object object]", "[object promise]", "object object"}
PH_STRICT = frozenset({"null", "undefined", "none", "nil", "nan", "[object object]",
                        "[object promise]", "{}", "[]", '""', "''"})
"""Placeholders that are never a real user-id or password (used on decoded Basic parts)."""
PH_TEMPLATE = re.compile(
    r"\{\{[^{}]{0,80}\}\}"               # {{token}} {{ token }} Handlebars/Postman/Jinja/Go
    r"|\$\{[^{}]{0,80}\}"                # ${TOKEN} shell / JS template literal / Terraform
    r"|@\{[^{}]{0,200}\}"                # @{variables('token')} Power Automate / Logic Apps
    r"|\$\([A-Za-z_][\w.]{0,80}\)"       # $(TOKEN) Azure DevOps, make
    r"|#\{[^{}]{0,80}\}"                 # #{TOKEN} Octopus, Ruby
    r"|<%=?[^%]{0,80}%>"                 # <%= token %> ERB / EJS
    r"|\bprocess\.env\.\w+|\bos\.environ\b|\$env:\w+"
)
PH_WHOLE = re.compile(
    r"\$[A-Za-z_]\w{0,80}"               # $TOKEN
    r"|%[A-Za-z_]\w{0,80}%"              # %TOKEN% (Windows cmd)
    r"|<[^<>]{1,80}>"                    # <token> <your-token>
    r"|\{[A-Za-z_][\w .-]{0,80}\}"       # {token} (OpenAPI-style)
    r"|\[[A-Za-z_][\w .-]{0,80}\]"       # [TOKEN]
    r"|__[A-Za-z]\w{0,80}__"             # __TOKEN__ (replace-tokens tasks)
    r"|[xX*•.#_-]{3,}"                   # xxxx ***** ....
    r"|[xX]{2,}(?:[-_][xX]{2,})+"        # xxxx-xxxx-xxxx
    r"|[A-Za-z]{2,8}(?:[-_][A-Za-z]{2,8})?[-_](?:x{6,}|X{6,}|\*{6,})"  # sk-xxxxxx, ghp_******
    , re.I)
PH_PHRASE = re.compile(r"[A-Za-z]+(?:[-_ .][A-Za-z]+){0,6}")
PH_PHRASE_MARK = frozenset({"your", "my", "insert", "enter", "paste", "put", "replace", "here",
                             "placeholder", "goes", "fill"})
PH_PHRASE_NOUN = frozenset({"token", "key", "secret", "password", "pass", "apikey", "jwt",
                             "credential", "credentials", "here", "auth", "id", "pat", "bearer"})



def is_phrase_placeholder(v: str) -> bool:
    """``your-api-key-here``, ``INSERT_TOKEN``: words that describe the secret (lower case)."""
    if not PH_PHRASE.fullmatch(v):
        return False
    words = set(re.split(r"[-_ .]", v))
    return bool(words & PH_PHRASE_MARK) and bool(words & PH_PHRASE_NOUN)


_KEPT_WHOLE = re.compile(
    r"<[^<>]{1,80}>|\{[A-Za-z_][\w .-]{0,80}\}|[xX*\u2022.#_-]{3,}|[xX]{2,}(?:[-_][xX]{2,})+"
    r"|[A-Za-z]{2,8}(?:[-_][A-Za-z]{2,8})?[-_](?:x{6,}|X{6,}|\*{6,})")
_KEPT_VARIABLE = re.compile(r"\$[A-Z_][A-Z0-9_]{0,80}|%[A-Z_][A-Z0-9_]{0,80}%|__[A-Z][A-Z0-9_]{0,80}__")
"""``$TOKEN``, ``%TOKEN%``, ``__TOKEN__``: an unset variable, in capitals (``$ecret`` is a password)."""


def is_placeholder(value: str) -> bool:
    """True for a value that stands in for a secret rather than being one, so redaction keeps it
    (and the placeholder finding survives): a template (``{{token}}``, ``${KEY}``), ``<token>``,
    a mask (``xxxx``, ``sk-******``), ``undefined``, a phrase such as ``YOUR_API_KEY``. Letters
    alone never make one (``letmein`` is a password), nor does a word such as ``changeme``."""
    if len(value) > 120:
        return bool(PH_TEMPLATE.search(value, 0, 8 * 1024))
    v = value.strip()
    lower = v.lower()
    return (lower in PH_STRICT or lower in ("true", "false") or is_phrase_placeholder(lower)
            or bool(_KEPT_WHOLE.fullmatch(v) or _KEPT_VARIABLE.fullmatch(v)
                    or PH_TEMPLATE.search(v)))


# ---- names: where secrets stand -----------------------------------------------------------

AUTH_HEADERS = ("authorization", "proxy-authorization")
CREDENTIAL_PARAMS = frozenset({
    "access_token", "accesstoken", "api_key", "apikey", "api-key", "key", "token", "auth",
    "auth_token", "authtoken", "id_token", "refresh_token", "jwt", "sig", "signature",
    "x-amz-signature", "x-goog-signature", "client_secret", "password", "passwd", "pwd",
    "secret", "private_token", "subscription-key", "subscription_key", "hapikey", "session_token",
    "x-amz-security-token", "sessionid", "session_id",
})
"""Query/form parameter names that carry a credential (``code`` is OAuth's one-time code: no)."""
FORM_ONLY_CREDENTIALS = frozenset({"client_assertion", "assertion", "code", "code_verifier",
                              "subject_token", "device_code"})
CREDENTIAL_COOKIE = re.compile(r"sess|sid|token|auth|jwt|access|refresh|remember|login|\.aspxauth",
                          re.I)

FORM_CREDENTIALS = CREDENTIAL_PARAMS | FORM_ONLY_CREDENTIALS
"""Form-body field names that carry a credential of the request itself."""

SECRET_NAME = re.compile(
    r"token|secret|passw|pwd|api[-_]?key|apikey|^key$|^code$|code_verifier|assertion|signature"
    r"|^sig$|session|^auth$|credential|^x-auth|^samlresponse$|^jwt$|hapikey|subscription.key"
    r"|^pin$|passcode|^otp$", re.I)
"""Query, fragment, form, multipart field names whose value is secret, credential or not (a
sign-in redirect's one-time ``code`` too)."""
SECRET_HEADER = re.compile(r"^(authorization|proxy-authorization)$|token|secret|api[-_]?key"
                           r"|-key$|^key$|session|signature|credential|password|^x-auth", re.I)
NOT_SECRET_HEADER = re.compile(r"authenticate$|^authentication-info$", re.I)
JSON_SECRET = re.compile(r"token|secret|password|passwd|api[-_]?key|assertion|^code$"
                         r"|code_verifier|signature", re.I)
"""JSON keys whose string value is secret (token responses, login bodies)."""
XML_SECRET = r"token|secret|password|passwd|api[-_]?key|SignatureValue|credential"
"""Element names (a suffix) whose text is secret: WS-Security, SOAP logins, SAML."""


NOT_SECRET_NAME = re.compile(r"[-_](?:type|hint|uri|url|endpoint|expires_in|expires_at|method)$",
                             re.I)
"""Names about a secret, not holding one: ``token_type``, ``token_type_hint``, ``session_url``."""


def is_secret_param(name: str) -> bool:
    """A query, fragment, form or multipart field whose value must not be shown."""
    return name.lower() in FORM_CREDENTIALS or (
        bool(SECRET_NAME.search(name)) and not NOT_SECRET_NAME.search(name))


def is_secret_header(name: str) -> bool:
    """A header whose value is (or holds) a secret; ``Cookie``/``Set-Cookie`` are read apart."""
    return bool(SECRET_HEADER.search(name)) and not NOT_SECRET_HEADER.search(name)


def is_secret_key(key: str) -> bool:
    """A JSON key whose string value is secret."""
    return bool(JSON_SECRET.search(key)) and not NOT_SECRET_NAME.search(key)


# ---- fingerprints ---------------------------------------------------------------------------

KEY_ENV = "AUTHLENS_KEY_FILE"
KEY_NAME = "authlens-fingerprint.key"
DEFAULT_CONFDIR = "~/.mitmproxy"
_key_dir = DEFAULT_CONFDIR
_key: bytes | None = None
_key_lock = threading.Lock()


def key_file() -> str:
    """Where the fingerprint key lives: ``$AUTHLENS_KEY_FILE``, else in mitmproxy's confdir."""
    return os.path.expanduser(os.environ.get(KEY_ENV) or os.path.join(_key_dir, KEY_NAME))


def use_confdir(confdir: str) -> None:
    """Keep the key in ``confdir`` (mitmproxy's ``confdir`` option) from now on."""
    global _key_dir, _key
    if confdir != _key_dir:
        _key_dir, _key = confdir, None
        DIGESTS.clear()


def reset_key() -> None:
    """Read the key again on next use (tests that move ``$AUTHLENS_KEY_FILE``)."""
    global _key
    _key = None
    DIGESTS.clear()


def _load_key() -> bytes:
    """The key from ``key_file()``, created (32 random bytes, owner-only) on first use; when it
    can be neither read nor written, a key for this process only (fingerprints then differ
    between runs, and say so once)."""
    path = key_file()
    try:
        with open(path, "rb") as fo:
            key = fo.read()
        if len(key) >= 16:
            return key
    except FileNotFoundError:
        pass
    except OSError as exc:
        log.warning("authlens: cannot read the fingerprint key %s (%s): fingerprints are for "
                    "this run only", path, exc)
        return os.urandom(32)
    key = os.urandom(32)
    try:
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fo:
            fo.write(key)
    except FileExistsError:  # another process created it first: use theirs
        with open(path, "rb") as fo:
            return fo.read()
    except OSError as exc:
        log.warning("authlens: cannot write the fingerprint key %s (%s): fingerprints are for "
                    "this run only", path, exc)
    return key


def _the_key() -> bytes:
    global _key
    if _key is None:
        with _key_lock:
            if _key is None:
                _key = _load_key()
    return _key


def _digest(secret: str) -> str:
    return hmac.new(_the_key(), secret.encode("utf-8", "surrogateescape"),
                    hashlib.sha256).hexdigest()


DIGESTS = Memo(_digest, 2048, 8 * 1024)
"""A secret's keyed digest, computed once per secret of at most 8 KiB: a refused call shows its
token several times, and the token lifecycle keys every token it sees."""


def fingerprint(secret: str, length: int = 8) -> str:
    """A short stable id for a secret (the first ``length`` hex digits of its keyed HMAC-SHA256):
    8 to show, longer where many secrets must not collide (the token lifecycle's keys)."""
    return DIGESTS[secret][:length]


# ---- showing secrets ------------------------------------------------------------------------

PREFIX = "REDACTED-"


def redact(secret: str, reveal: bool = False) -> str:
    """``eyJh…k9Qw (812 chars, #1a2b3c4d)``; short secrets show no characters at all."""
    if reveal or not secret:
        return secret
    if len(secret) >= 24:
        shown = f"{secret[:4]}…{secret[-4:]} "
    else:
        shown = ""
    return f"{shown}({len(secret)} chars, #{fingerprint(secret)})"


def redact_inline(secret: str, reveal: bool = False) -> str:
    """``redact`` for a message that already puts it in parentheses: ``eyJh…k9Qw, 812 chars,
    #1a2b3c4d`` (never ``((9 chars, #…))``)."""
    if reveal or not secret:
        return secret
    shown = f"{secret[:4]}…{secret[-4:]}, " if len(secret) >= 24 else ""
    return f"{shown}{len(secret)} chars, #{fingerprint(secret)}"


TOKEN_SHAPED = re.compile(r"eyJ[A-Za-z0-9_\-]{8,}(?:\.[A-Za-z0-9_\-]*){1,4}|[A-Za-z0-9_\-+/]{48,}")
"""A JWT, or a run of 48 base64 characters: a secret whatever names it (server messages that
echo one)."""


def redact_token_shaped(text: str) -> str:
    """``text`` with everything ``TOKEN_SHAPED`` redacted (a server's message shown as is)."""
    return TOKEN_SHAPED.sub(lambda m: redact(m.group()), text)


def url_redact(secret: str) -> str:
    """A secret as it may stand inside a URL: ``REDACTED-1a2b3c4d`` (the fingerprint)."""
    return PREFIX + fingerprint(secret)


def redact_url(url: str, reveal: bool = False) -> str:
    """``url`` with secret parameters (in the query, or in the fragment where the implicit grant
    puts ``access_token``) and the user-info password redacted, for display: diagnoses,
    findings and logs must not carry the secret either."""
    if reveal or not _may_carry_secret(url):
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user, colon, password = userinfo.partition(":")
        netloc = f"{user}:{url_redact(unquote(password))}@{hostport}" if colon else \
            f"{url_redact(unquote(user))}@{hostport}"
    return parts._replace(netloc=netloc, query=_redact_params(parts.query),
                          fragment=_redact_params(parts.fragment)).geturl()


def _redact_params(params: str) -> str:
    """``a=1&access_token=x`` with the values of secret-named parameters redacted."""
    if "=" not in params:
        return params
    pairs = []
    for pair in params.split("&"):
        key, eq, value = pair.partition("=")
        if eq and value and is_secret_param(unquote(key)) and not is_placeholder(unquote(value)):
            value = url_redact(unquote(value))
        pairs.append(f"{key}{eq}{value}")
    return "&".join(pairs)


def _may_carry_secret(url: str) -> bool:
    """Cheap, conservative test for ``redact_url``: user-info, or a secret-named parameter in
    the query or the fragment."""
    head, _, fragment = url.partition("#")
    head, _, query = head.partition("?")
    if "@" in head:
        return True
    for params in (query, fragment):
        for pair in params.split("&") if params else ():
            key = pair.partition("=")[0]
            if is_secret_param(unquote(key) if "%" in key else key):
                return True
    return False


# ---- redacting text: shareable copies ------------------------------------------------------

MIN_ECHO = 6
"""A secret once seen is replaced wherever else it appears when at least this long."""
URL_HEADERS = frozenset({"location", "content-location", "referer"})
_URL_VALUE = re.compile(r"\s*(?:[a-z][a-z0-9+.-]*://|/)[^\s?#]*[?#]", re.I)
"""Any other header whose value is a URL with a query or fragment (``X-Original-URL``...)."""
_LINK_TARGET = re.compile(r"<([^>]*)>")
"""The targets of a ``Link`` header (RFC 8288 §3: ``<URI-Reference>``), e.g. a next-page link
that carries ``access_token``."""
_RUN = re.compile(r"[A-Za-z0-9!#$%&()*+,\-./:;<=>?@\[\\\]^_{|}~]+")
"""A run of visible characters that could be (part of) a secret: no spaces, quotes, invisibles."""
_JWT = re.compile(r"^(eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+)\.[A-Za-z0-9_-]*$")
_PARAM = re.compile(r"(^|[?&;#])([^=&#;]*)=([^&#;]*)")
_BOUNDARY = re.compile(r";\s*boundary=(?:\"([^\"]+)\"|([^\s;]+))", re.I)
_PART_NAME = re.compile(r"content-disposition:[^\r\n]*?\bname=\"([^\"]*)\"", re.I)
_XML_ELEMENT = re.compile(
    rf"(<(?:[\w.-]+:)?([\w.-]*(?:{XML_SECRET}))(?:\s[^>]*)?>)([^<]*)(</(?:[\w.-]+:)?\2\s*>)", re.I)
"""``<ns:Password Type="...">hunter2</ns:Password>``: an element named like a secret holding text."""


def placeholder(secret: str) -> str:
    """``REDACTED-<fingerprint>``; a JWT keeps header and payload (its claims still diagnose)
    and loses its signature (``REDACTED<fingerprint>``, still valid base64url)."""
    jwt = _JWT.match(secret)
    if jwt:
        return f"{jwt.group(1)}.REDACTED{fingerprint(secret)}"
    return PREFIX + fingerprint(secret)


class Redactor:
    """Replaces secrets (with ``replace(secret)``); remembers each one to scrub its echoes.

    Only the secret characters are replaced: the scheme, quotes, stray spaces and invisible
    characters around a credential stay, so the request-format findings survive."""

    def __init__(self, replace: Callable[[str], str] = placeholder):
        from .authorization import KNOWN_SCHEMES
        self.schemes = KNOWN_SCHEMES
        self.replace = replace
        self.known: dict[str, str] = {}

    def secret(self, value: str) -> str:
        if not value or value.startswith(PREFIX) or value.rsplit(".", 1)[-1].startswith("REDACTED"):
            return value
        replacement = self.replace(value)
        if len(value) >= MIN_ECHO:
            for variant in {value, quote(value, safe=""), quote_plus(value)}:
                self.known[variant] = replacement
        return replacement

    def runs(self, value: str, keep_scheme: bool = False) -> str:
        """Each secret run of ``value`` replaced (the scheme and placeholders kept); what
        surrounds it kept."""
        if is_placeholder(value):
            return value
        first = True

        def one(match) -> str:
            nonlocal first
            run, was_first, first = match.group(), first, False
            if (keep_scheme and was_first and run.lower() in self.schemes) or is_placeholder(run):
                return run
            return self.secret(run)
        return _RUN.sub(one, value)

    def header(self, name: str, value: str) -> str:
        lower = name.lower()
        if lower == "cookie":
            return self.params(value, lambda _: True)
        if lower == "set-cookie":
            head, sep, attributes = value.partition(";")
            return self.params(head, lambda _: True) + sep + attributes
        if is_secret_header(lower):
            return self.runs(value, keep_scheme=lower.endswith("authorization"))
        if lower == "link":
            return _LINK_TARGET.sub(lambda m: f"<{self.url(m.group(1))}>", value)
        if lower in URL_HEADERS or _URL_VALUE.match(value):
            return self.url(value)
        return value

    def params(self, text: str, is_secret: Callable[[str], object] = is_secret_param) -> str:
        """``a=1&b=2`` (query, form, cookie): the values of secret names replaced."""
        def one(match) -> str:
            sep, name, value = match.groups()
            if not value or not is_secret(name.strip()) or is_placeholder(unquote_plus(value)):
                return match.group()
            return f"{sep}{name}={self.secret(unquote_plus(value))}"
        return _PARAM.sub(one, text)

    def url(self, url: str) -> str:
        """A URL or path: the values of secret names in its query and fragment replaced."""
        cut = min((i for i in (url.find("?"), url.find("#")) if i >= 0), default=-1)
        return url if cut < 0 else url[:cut + 1] + self.params(url[cut + 1:])

    def learn_json(self, text: str) -> None:
        """Remember the secrets of a JSON body (``access_token``, ``password``, ...)."""
        import json
        try:
            document = json.loads(text)
        except ValueError:
            return
        todo = [document]
        while todo:
            node = todo.pop()
            if isinstance(node, dict):
                for key, value in node.items():
                    if isinstance(value, str) and is_secret_key(key):
                        if not is_placeholder(value):
                            self.secret(value)
                    else:
                        todo.append(value)
            elif isinstance(node, list):
                todo.extend(node)

    def body(self, text: str, content_type: str = "") -> str:
        """A body, read as its ``Content-Type`` says: form fields and multipart parts by name,
        XML elements by name, JSON secrets by key; then every known secret."""
        media = content_type.partition(";")[0].strip().lower()
        if media == "application/x-www-form-urlencoded":
            text = self.params(text)
        elif media.startswith("multipart/"):
            text = self.multipart(text, content_type)
        elif media.endswith("xml"):
            text = self.xml(text)
        else:
            self.learn_json(text)
        return self.scrub(text)

    def multipart(self, text: str, content_type: str) -> str:
        """``multipart/form-data``: the value of each part whose name is a secret's."""
        boundary = _BOUNDARY.search(content_type)
        if boundary is None:
            return text
        delimiter = "--" + (boundary.group(1) or boundary.group(2))
        parts = text.split(delimiter)
        for i, part in enumerate(parts):
            head, blank, value = part.partition("\r\n\r\n")
            name = _PART_NAME.search(head) if blank else None
            if name is None or not is_secret_param(name.group(1)):
                continue
            secret = value[:-2] if value.endswith("\r\n") else value
            if secret and not is_placeholder(secret):
                parts[i] = f"{head}{blank}{self.secret(secret)}{value[len(secret):]}"
        return delimiter.join(parts)

    def xml(self, text: str) -> str:
        """XML (SOAP, SAML, WS-Security): the text of each element whose name is a secret's."""
        def one(match) -> str:
            open_tag, _name, value, close_tag = match.groups()
            return f"{open_tag}{self.runs(value)}{close_tag}"
        return _XML_ELEMENT.sub(one, text)

    def scrub(self, text: str) -> str:
        """Every secret seen so far, wherever it appears in ``text``."""
        for secret in sorted((s for s in self.known if s in text), key=len, reverse=True):
            text = text.replace(secret, self.known[secret])
        return text
