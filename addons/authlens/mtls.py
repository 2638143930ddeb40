"""Mutual TLS: the server wanted a client certificate and did not get one it accepts.

Reads the adapter's neutral facts (``model.Connection``: the TLS error or alert in the proxy's
words, whether the server sent a CertificateRequest, whether the proxy had a certificate) and the
words nginx answers with, and decides whether the missing credential is the certificate.
"""

from __future__ import annotations

from collections.abc import Iterable

from .model import Finding, on_failure

CERT_REQUIRED = "certificate required"
"""TLS 1.3's ``certificate_required`` alert (116, RFC 8446 §6.2), as OpenSSL words it."""
REFUSED_CERT = ("bad certificate", "unknown ca", "certificate unknown", "certificate expired",
                "certificate revoked", "unsupported certificate", "access denied")
"""Alerts a server sends about the certificate it was given (RFC 8446 §6.2)."""
HANDSHAKE_FAILURE = "handshake failure"
"""Alert 40: what TLS 1.2 servers send when a required certificate is missing (and for much
else, so it proves nothing without a CertificateRequest)."""
NGINX_MISSING = b"No required SSL certificate was sent"
NGINX_REFUSED = b"The SSL certificate error"
"""nginx's 400 pages when ``ssl_verify_client on`` gets no certificate (its code 496) or one it
does not accept (495): the handshake completes, the answer says why."""
HOW = ("give it to mitmproxy: `--set client_certs=FILE.pem` (certificate and key in one PEM "
       "file) or `--set client_certs=DIR` (a `<host>.pem` per server). A certificate the client "
       "itself holds (curl --cert, a keystore) never reaches the server: mitmproxy ends the "
       "client's TLS and opens its own connection to the server.")


def _alert(text: str) -> str:
    """The alert in an OpenSSL error text (``tlsv13 alert certificate required``), lower-case;
    "" when the text names none."""
    low = text.lower()
    at = low.find("alert ")
    return low[at + 6:].split("'", 1)[0].split(")", 1)[0].strip() if at >= 0 else ""


@on_failure
def check_client_certificate(ctx) -> Iterable[Finding]:
    """client-certificate-missing: the connection failed, or the server refused the call, for
    want of a TLS client certificate (or the one the proxy sent was refused)."""
    conn = ctx.exchange.connection
    body = ctx.response.body if ctx.response is not None and ctx.status == 400 else b""
    nginx_missing, nginx_refused = NGINX_MISSING in body, NGINX_REFUSED in body
    if conn is None and not (nginx_missing or nginx_refused):
        return
    requested = conn is not None and conn.cert_requested
    sent = conn is not None and conn.cert_sent
    alert = _alert(conn.tls_error or conn.error) if conn is not None else ""
    cas = conn.cert_authorities if conn is not None else ()
    asked = (f"asked for a client certificate during the TLS handshake (CertificateRequest"
             f"{', accepting certificates issued by ' + '; '.join(cas) if cas else ''})")
    if sent and (any(a in alert for a in REFUSED_CERT) or nginx_refused):
        said = f"TLS alert `{alert}`" if alert else f"HTTP 400 {NGINX_REFUSED.decode()!r}"
        yield Finding(
            "client-certificate-missing",
            f"The server refused the client certificate mitmproxy sent ({said}): it is not "
            f"one the server accepts (another CA, expired, or for another client). Give "
            f"mitmproxy the right one with `--set client_certs=...`.",
            (("alert", alert), ("certificate_sent", True)))
        return
    if sent:
        return
    if CERT_REQUIRED in alert:
        why = ("ended the connection with the TLS alert `certificate_required` (116): it "
               "requires a client certificate and mitmproxy sent none")
    elif requested and HANDSHAKE_FAILURE in alert:
        why = f"{asked}, mitmproxy sent none, and the handshake failed (`{alert}`)"
    elif nginx_missing:
        why = (f"answered 400 {NGINX_MISSING.decode()!r}"
               + (f" after it {asked}" if requested else "") + "; mitmproxy sent none")
    elif requested and ctx.response is None and conn is not None and conn.tls:
        why = (f"{asked}, mitmproxy sent none, and the server closed the connection without "
               f"answering ({conn.error or 'no response'})")
    elif requested and ctx.status in (401, 403):
        why = f"{asked}, mitmproxy sent none, and the server refused the call ({ctx.status})"
    else:
        return
    yield Finding(
        "client-certificate-missing",
        f"The server {why}. The missing credential is the TLS client certificate (mutual "
        f"TLS); {HOW}",
        (("alert", alert), ("certificate_requested", requested or bool(alert)),
         ("accepted_issuers", list(cas))))


CHECKS = (check_client_certificate,)
