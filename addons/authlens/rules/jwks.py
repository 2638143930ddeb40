"""Verify a token's signature against the JWKS the user named for its issuer (file or URL).

authlens never looks keys up on its own: no discovery, no well-known URLs. A named URL is fetched
once and cached; a file is re-read when it changes."""

from __future__ import annotations

import json
import logging
import os
import urllib.request

import jwt

from ..caching import Memo
from .rule import JwksSource

FETCH_TIMEOUT = 5.0
log = logging.getLogger("authlens")


def _fetch_uncached(url: str) -> str:
    with urllib.request.urlopen(url, timeout=FETCH_TIMEOUT) as response:  # noqa: S310 - user-named
        return response.read(1024 * 1024).decode("utf-8")


def _read_uncached(path: str, _stamp: int) -> str:
    with open(path, encoding="utf-8") as handle:
        return handle.read()


_fetch = Memo(_fetch_uncached, 64, 4096).__getitem__
_READ = Memo(_read_uncached, 64, 4096)
"""A JWKS file by (path, modification time)."""


def _keyset(source: JwksSource) -> jwt.PyJWKSet:
    text = _fetch(source.url) if source.url else _READ[source.file, os.stat(source.file).st_mtime_ns]
    return jwt.PyJWKSet.from_dict(json.loads(text))


def signature_problem(token: str, header: dict, source: JwksSource) -> str | None:
    """Why ``token``'s signature does not verify with ``source``'s keys, or None when it does."""
    try:
        keys = _keyset(source).keys
    except (OSError, ValueError, jwt.PyJWKError) as exc:  # say so, but judge no token by it
        log.warning("authlens: JWKS for %s (%s:%d) unusable: %s", source.issuer, source.source,
                    source.line, exc)
        return None
    kid = header.get("kid")
    candidates = [k for k in keys if kid is None or k.key_id == kid]
    if not candidates:
        return (f"no key with kid {kid!r} in the JWKS for {source.issuer} (key ids: "
                f"{', '.join(str(k.key_id) for k in keys) or 'none'}): signed by another issuer, or "
                "with a key it no longer publishes")
    for key in candidates:
        try:
            jwt.decode(token, key.key, algorithms=[header.get("alg", "RS256")],
                       options={"verify_signature": True, "verify_exp": False, "verify_nbf": False,
                                "verify_iat": False, "verify_aud": False, "verify_iss": False})
            return None
        except jwt.InvalidSignatureError:
            continue
        except jwt.PyJWTError as exc:
            return f"cannot be verified: {exc}"
    return f"the signature does not match the issuer's key {candidates[0].key_id or ''}".rstrip()
