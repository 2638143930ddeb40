"""Shareable copies of captures: every secret replaced by a consistent placeholder.

A secret becomes ``REDACTED-<fingerprint>`` (a JWT signature ``REDACTED<fingerprint>``) (``redact.fingerprint``: the same secret gives the same
placeholder everywhere, so "is it the same token?" still has an answer). A JWT keeps its header
and payload and loses only its signature: expiry, audience, issuer, scope and tenant still
diagnose, while the token can no longer be replayed. The trade-off: its claims (subject, e-mail,
tenant) stay readable in the copy.

URLs are read wherever they stand: the request path, the headers that carry one (``Location``,
``Content-Location``, ``Referer``, ``Link`` targets, any header whose value is a URL), query and
fragment alike (a sign-in redirect hands out ``code``, the implicit grant ``#access_token``).
Bodies are read as their ``Content-Type`` says: form fields and ``multipart/form-data`` parts by
name, XML elements by name (WS-Security ``Password``, SAML ``SignatureValue``), JSON secrets by
key. WebSocket, TCP and UDP messages are read like JSON bodies. Then every secret seen so far is
scrubbed wherever it appears.

Only the secret characters are replaced: the scheme, quotes, stray spaces and invisible characters
around a credential stay, so the request-format findings survive. Placeholders that were never
secrets (``{{token}}``, ``undefined``, ``YOUR_API_KEY``) are left alone. Once seen, a secret is
replaced wherever else it appears (URLs, bodies, other flows) if it is at least ``MIN_ECHO``
characters long.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from urllib.parse import quote, quote_plus, unquote_plus

from mitmproxy import http, tcp, udp
from mitmproxy import io as mitm_io

from ..credentials import KNOWN_SCHEMES
from ..redact import fingerprint
from . import har

PREFIX = "REDACTED-"
MIN_ECHO = 6

SECRET_NAME = re.compile(
    r"token|secret|passw|pwd|api[-_]?key|apikey|^key$|^code$|code_verifier|assertion|signature"
    r"|^sig$|session|^auth$|credential|^x-auth|^samlresponse$", re.I)
SECRET_HEADER = re.compile(r"^(authorization|proxy-authorization)$|token|secret|api[-_]?key"
                           r"|-key$|^key$|session|signature|credential|password|^x-auth", re.I)
NOT_SECRET_HEADER = re.compile(r"authenticate$|^authentication-info$", re.I)
URL_HEADERS = frozenset({"location", "content-location", "referer"})
_URL_VALUE = re.compile(r"\s*(?:[a-z][a-z0-9+.-]*://|/)[^\s?#]*[?#]", re.I)
"""Any other header whose value is a URL with a query or fragment (``X-Original-URL``...)."""
_LINK_TARGET = re.compile(r"<([^>]*)>")
"""The targets of a ``Link`` header (RFC 8288 §3: ``<URI-Reference>``), e.g. a next-page link
that carries ``access_token``."""

# A run of visible characters that could be (part of) a secret: no spaces, quotes, or invisibles.
_RUN = re.compile(r"[A-Za-z0-9!#$%&()*+,\-./:;<=>?@\[\\\]^_{|}~]+")
_NOT_SECRET = re.compile(r"\{\{|\$\{|<|^(null|undefined|none|nil|true|false|\[object|object\])$"
                         r"|^[A-Z][A-Z_]*$", re.I)
_JWT = re.compile(r"^(eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+)\.[A-Za-z0-9_-]*$")
_PARAM = re.compile(r"(^|[?&;#])([^=&#;]*)=([^&#;]*)")
_JSON_SECRET = re.compile(r"token|secret|password|api[-_]?key|assertion", re.I)
_BOUNDARY = re.compile(r";\s*boundary=(?:\"([^\"]+)\"|([^\s;]+))", re.I)
_PART_NAME = re.compile(r"content-disposition:[^\r\n]*?\bname=\"([^\"]*)\"", re.I)
# <ns:Password Type="...">hunter2</ns:Password>: an element whose name ends like a secret's and
# that holds only text (WS-Security, SOAP logins, XML token responses, a SAML SignatureValue).
_XML_SECRET = re.compile(
    r"(<(?:[\w.-]+:)?([\w.-]*(?:token|secret|password|passwd|api[-_]?key|SignatureValue"
    r"|credential))(?:\s[^>]*)?>)([^<]*)(</(?:[\w.-]+:)?\2\s*>)", re.I)


def placeholder(secret: str) -> str:
    jwt = _JWT.match(secret)
    if jwt:  # keep header.payload so the claims still diagnose; the signature goes (16 chars:
        return f"{jwt.group(1)}.REDACTED{fingerprint(secret)}"  # still valid base64url)
    return PREFIX + fingerprint(secret)


class Redactor:
    """Replaces secrets (with ``replace(secret)``); remembers each one to scrub its echoes."""

    def __init__(self, replace: Callable[[str], str] = placeholder):
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
        """Each secret-looking run of ``value`` replaced; what surrounds it kept."""
        first = True

        def one(match) -> str:
            nonlocal first
            run, was_first, first = match.group(), first, False
            if (keep_scheme and was_first and run.lower() in KNOWN_SCHEMES) or _NOT_SECRET.search(run):
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
        if SECRET_HEADER.search(lower) and not NOT_SECRET_HEADER.search(lower):
            return self.runs(value, keep_scheme=lower.endswith("authorization"))
        if lower == "link":
            return _LINK_TARGET.sub(lambda m: f"<{self.url(m.group(1))}>", value)
        if lower in URL_HEADERS or _URL_VALUE.match(value):
            return self.url(value)
        return value

    def params(self, text: str, is_secret: Callable[[str], object] = SECRET_NAME.search) -> str:
        """``a=1&b=2`` (query, form, cookie): the values of secret names replaced."""
        def one(match) -> str:
            sep, name, value = match.groups()
            if not value or not is_secret(name.strip()) or _NOT_SECRET.search(unquote_plus(value)):
                return match.group()
            return f"{sep}{name}={self.secret(unquote_plus(value))}"
        return _PARAM.sub(one, text)

    def url(self, url: str) -> str:
        """A URL or path: the values of secret names in its query and fragment replaced."""
        cut = min((i for i in (url.find("?"), url.find("#")) if i >= 0), default=-1)
        return url if cut < 0 else url[:cut + 1] + self.params(url[cut + 1:])

    def learn_json(self, text: str) -> None:
        """Remember the secrets of a JSON body (``access_token``, ``password``, ...)."""
        try:
            document = json.loads(text)
        except ValueError:
            return
        todo = [document]
        while todo:
            node = todo.pop()
            if isinstance(node, dict):
                for key, value in node.items():
                    if isinstance(value, str) and _JSON_SECRET.search(key) and value != "Bearer":
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
            if name is None or not SECRET_NAME.search(name.group(1)):
                continue
            secret = value[:-2] if value.endswith("\r\n") else value
            if secret and not _NOT_SECRET.search(secret):
                parts[i] = f"{head}{blank}{self.secret(secret)}{value[len(secret):]}"
        return delimiter.join(parts)

    def xml(self, text: str) -> str:
        """XML (SOAP, SAML, WS-Security): the text of each element whose name is a secret's."""
        def one(match) -> str:
            open_tag, _name, value, close_tag = match.groups()
            return f"{open_tag}{self.runs(value)}{close_tag}"
        return _XML_SECRET.sub(one, text)

    def scrub(self, text: str) -> str:
        """Every secret seen so far, wherever it appears in ``text``."""
        for secret in sorted((s for s in self.known if s in text), key=len, reverse=True):
            text = text.replace(secret, self.known[secret])
        return text


# ---- files --------------------------------------------------------------------------------


def _text(value: bytes) -> str:
    return value.decode("utf-8", "surrogateescape")


def _message(message, redactor: Redactor) -> None:
    """Headers and body of a mitmproxy request/response, in place."""
    message.headers.fields = tuple(
        (k, redactor.header(_text(k), _text(v)).encode("utf-8", "surrogateescape"))
        for k, v in message.headers.fields)
    content = message.get_content(strict=False)
    if content:
        text = _text(content)
        redacted = redactor.body(text, message.headers.get("content-type", ""))
        if redacted != text:
            message.content = redacted.encode("utf-8", "surrogateescape")


def _frames(messages, redactor: Redactor) -> None:
    """WebSocket, TCP or UDP messages, in place: each one read like a body."""
    for message in messages:
        text = _text(message.content)
        redacted = redactor.body(text)
        if redacted != text:
            message.content = redacted.encode("utf-8", "surrogateescape")


def redact_flow(flow, redactor: Redactor) -> None:
    """One flow, in place: HTTP (with its WebSocket messages), TCP and UDP; then its comment and
    error message, once its own secrets are known. authlens's stored diagnosis is dropped (it is
    recomputed from the redacted copy)."""
    if isinstance(flow, http.HTTPFlow):
        _http_flow(flow, redactor)
    elif isinstance(flow, (tcp.TCPFlow, udp.UDPFlow)):
        _frames(flow.messages, redactor)
    if flow.error is not None:
        flow.error.msg = redactor.scrub(flow.error.msg)
    flow.comment = redactor.scrub(flow.comment)
    flow.metadata.pop("authlens", None)


def _http_flow(flow: http.HTTPFlow, redactor: Redactor) -> None:
    request = flow.request
    request.path = redactor.url(request.path)
    messages = [m for m in (request, flow.response) if m is not None]
    for message in messages + messages:  # twice: echoes of the secrets learned late
        _message(message, redactor)
    if flow.websocket is not None:
        _frames(flow.websocket.messages, redactor)
    request.path = redactor.scrub(request.path)


def redact_flow_file(source: str, target: str, redactor: Redactor) -> int:
    count = 0
    with open(source, "rb") as src, open(target, "wb") as dst:
        writer = mitm_io.FlowWriter(dst)
        for flow in mitm_io.FlowReader(src).stream():
            redact_flow(flow, redactor)
            writer.add(flow)
            count += 1
    return count


def _har_content(content: dict, redactor: Redactor) -> None:
    if not content or content.get("text") is None:
        return
    media = content.get("mimeType", "")
    if content.get("encoding") == "base64":
        text = _text(base64.b64decode(content["text"]))
        content["text"] = base64.b64encode(redactor.body(text, media).encode(
            "utf-8", "surrogateescape")).decode()
    else:
        content["text"] = redactor.body(content["text"], media)


def _har_message(message: dict, redactor: Redactor, content_key: str) -> None:
    for header in message.get("headers", []):
        header["value"] = redactor.header(header["name"], header["value"])
    for cookie in message.get("cookies", []):
        cookie["value"] = redactor.secret(cookie.get("value", ""))
    for param in message.get("queryString", []) + (message.get("postData") or {}).get("params", []):
        if SECRET_NAME.search(param["name"]) and param.get("value"):
            param["value"] = redactor.secret(param["value"])
    content = message.get(content_key) or {}
    _har_content(content, redactor)


def redact_har(har: dict, redactor: Redactor) -> str:
    """The redacted HAR, as JSON text (echoes scrubbed from the whole document)."""
    for entry in har.get("log", {}).get("entries", []):
        request = entry.get("request", {})
        request["url"] = redactor.url(request.get("url", ""))
        _har_message(request, redactor, "postData")
        response = entry.get("response", {})
        _har_message(response, redactor, "content")
        if response.get("redirectURL"):
            response["redirectURL"] = redactor.url(response["redirectURL"])
        for message in entry.get("_webSocketMessages") or ():  # Chromium's HAR extension
            if isinstance(message.get("data"), str):
                message["data"] = redactor.body(message["data"])
    return redactor.scrub(json.dumps(har, indent=2, ensure_ascii=False))


def redact_har_file(source: str, target: str, redactor: Redactor) -> int:
    document = har.load(source)
    with open(target, "w", encoding="utf-8") as out:
        out.write(redact_har(document, redactor) + "\n")
    return len(har.entries(document))
