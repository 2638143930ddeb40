"""Show secrets without revealing them: enough to tell two apart, never enough to use one."""

from __future__ import annotations

import hashlib

from .caching import Memo


def fingerprint(secret: str, length: int = 8) -> str:
    """A short stable id for a secret (first ``length`` hex digits of its SHA-256): 8 to show,
    longer where many secrets must not collide (the token lifecycle's keys)."""
    return SHA256[secret][:length]


def _sha256(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogateescape")).hexdigest()


SHA256 = Memo(_sha256, 2048, 8 * 1024)
"""A secret's SHA-256, computed once per secret of at most 8 KiB (16 MiB at most in all): a
refused call shows its token several times, and the token lifecycle keys every token it sees."""


def redact(secret: str, reveal: bool = False) -> str:
    """``eyJh…k9Qw (812 chars, #1a2b3c4d)``; short secrets show no characters at all."""
    if reveal or not secret:
        return secret
    if len(secret) >= 24:
        shown = f"{secret[:4]}…{secret[-4:]} "
    else:
        shown = ""
    return f"{shown}({len(secret)} chars, #{fingerprint(secret)})"
