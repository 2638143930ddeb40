"""Verify a token's signature against the JWKS the user named for its issuer (file or URL).

authlens never looks keys up on its own: no discovery, no well-known URLs. A named URL is read by
pyjwt's ``PyJWKClient`` (the set cached for ``LIFESPAN``, refetched on an unknown ``kid`` at most
once per ``REFETCH_EVERY``) on a background thread, never on the proxy's: until the keys are
there, or while the URL fails (failures are remembered as long), no signature is judged. A file
is re-read when it changes. The algorithm is the key's, never the token header's."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor

import jwt
from jwt import PyJWK, PyJWKClient

from ..caching import Memo
from .rule import JwksSource

TIMEOUT = 5.0
LIFESPAN = 300.0
REFETCH_EVERY = 60.0
"""Seconds between two fetches of one URL: on an unknown kid, and after a failure."""
log = logging.getLogger("authlens")

BLOCKING = False
"""Wait for a fetch instead of judging nothing meanwhile: offline scans (``authlens scan``),
where no proxy thread waits behind the analysis."""

_fetcher = ThreadPoolExecutor(max_workers=2, thread_name_prefix="authlens-jwks")


class RemoteKeys:
    """The keys behind one user-named URL, fetched off the calling thread."""

    def __init__(self, url: str):
        self.url = url
        self.client = PyJWKClient(url, cache_jwk_set=True, lifespan=LIFESPAN, timeout=TIMEOUT,
                                  cooldown_duration=REFETCH_EVERY)
        self.lock = threading.Lock()
        self.pending: Future | None = None
        self.fetched_at: float | None = None
        self.tried_at: float | None = None
        self.fetches = 0

    def keys(self, kid: str | None) -> list[PyJWK] | None:
        """The keys that may have signed a token with ``kid`` ([] when the set has none), or None
        while that is not known (set not fetched yet, refetching for a new kid, URL failing)."""
        cache = self.client.jwk_set_cache
        current = cache.get() if cache is not None else None
        if current is None:
            self._refresh()
            current = cache.get() if cache is not None else None
            if current is None:
                return None
        found = _matching(current.keys, kid)
        if found or kid is None:
            return found
        if self._may_fetch():  # a key rotated in since the set was fetched?
            self._refresh()
            current = cache.get() if cache is not None else current
            found = _matching(current.keys, kid) if current is not None else []
            if not found and self.pending is not None:
                return None
        return found

    def known_ids(self) -> list[str]:
        cache = self.client.jwk_set_cache
        current = cache.get() if cache is not None else None
        return [str(k.key_id) for k in current.keys] if current is not None else []

    def _may_fetch(self) -> bool:
        return self.tried_at is None or time.monotonic() - self.tried_at >= REFETCH_EVERY

    def _refresh(self) -> None:
        """Start a fetch unless one runs or one was tried less than ``REFETCH_EVERY`` ago; in
        ``BLOCKING`` mode, wait for it."""
        with self.lock:
            if self.pending is None and self._may_fetch():
                self.tried_at = time.monotonic()
                self.fetches += 1
                self.pending = _fetcher.submit(self._fetch)
            pending = self.pending
        if pending is not None and BLOCKING:
            pending.result()

    def _fetch(self) -> None:
        try:
            self.client.get_jwk_set(refresh=True)
            self.fetched_at = time.monotonic()
        except (jwt.PyJWKClientError, jwt.PyJWKError, OSError, ValueError) as exc:
            log.warning("authlens: JWKS %s unusable (tried again in %.0f s): %s", self.url,
                        REFETCH_EVERY, exc)
        finally:
            with self.lock:
                self.pending = None


_remote: dict[str, RemoteKeys] = {}
_remote_lock = threading.Lock()


def remote(url: str) -> RemoteKeys:
    with _remote_lock:
        keys = _remote.get(url)
        if keys is None:
            keys = _remote[url] = RemoteKeys(url)
        return keys


def _read_uncached(path: str, _stamp: int) -> list[PyJWK]:
    with open(path, encoding="utf-8") as handle:
        return list(jwt.PyJWKSet.from_dict(json.load(handle)).keys)


_READ = Memo(_read_uncached, 64, 4096)
"""A JWKS file's keys by (path, modification time)."""


def _matching(keys, kid: str | None) -> list[PyJWK]:
    return [k for k in keys if kid is None or k.key_id == kid]


def _candidates(source: JwksSource, kid: str | None) -> tuple[list[PyJWK] | None, list[str]]:
    """(the keys that may have signed it or None when unknown yet, every key id of the set)."""
    if source.url:
        keys = remote(source.url)
        return keys.keys(kid), keys.known_ids()
    everything = _READ[source.file, os.stat(source.file).st_mtime_ns]
    return _matching(everything, kid), [str(k.key_id) for k in everything]


def signature_problem(token: str, header: dict, source: JwksSource) -> str | None:
    """Why ``token``'s signature does not verify with ``source``'s keys, or None when it does
    (or when the keys are not at hand: nothing is judged without them)."""
    kid = header.get("kid")
    try:
        candidates, ids = _candidates(source, kid if isinstance(kid, str) else None)
    except (OSError, ValueError, jwt.PyJWKError) as exc:  # say so, but judge no token by it
        log.warning("authlens: JWKS for %s (%s:%d) unusable: %s", source.issuer, source.source,
                    source.line, exc)
        return None
    if candidates is None:
        return None
    if not candidates:
        return (f"no key with kid {kid!r} in the JWKS for {source.issuer} (key ids: "
                f"{', '.join(ids) or 'none'}): signed by another issuer, or with a key it no "
                "longer publishes")
    for key in candidates:
        try:
            jwt.decode_complete(token, key, algorithms=[key.algorithm_name],
                                options={"verify_signature": True, "verify_exp": False,
                                         "verify_nbf": False, "verify_iat": False,
                                         "verify_aud": False, "verify_iss": False})
            return None
        except jwt.InvalidSignatureError:
            continue
        except jwt.InvalidAlgorithmError:
            return (f"signed with {header.get('alg')!r}, but the issuer's key "
                    f"{key.key_id or ''} is for {key.algorithm_name}").replace("key  is", "key is")
        except jwt.PyJWTError as exc:
            return f"cannot be verified: {exc}"
    return f"the signature does not match the issuer's key {candidates[0].key_id or ''}".rstrip()
