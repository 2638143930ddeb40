"""The client-certificate check (authlens.mtls) on neutral exchanges: the adapter's connection
facts in, the cause out. Live: tests/test_mtls_live.py."""

from __future__ import annotations

from factories import NOW, diagnose, ids

from authlens.mitm.adapter import connection_of
from authlens.model import Connection, Exchange, RequestView, ResponseView

URL = "https://api.example.test/v1/orders"
CLOSED = "server closed connection"
TLS12_FAILURE = "OpenSSL Error([('SSL routines', '', 'ssl/tls alert handshake failure')])"
NGINX_400 = (b"<html>\r\n<head><title>400 No required SSL certificate was sent</title></head>"
             b"<body><center><h1>400 Bad Request</h1></center></body></html>")


def _exchange(connection=None, status=None, body=b"", headers=()):
    response = ResponseView(status, (("Content-Type", "text/html"),), body) if status else None
    return Exchange(RequestView("GET", URL, tuple(headers), timestamp=NOW), response,
                    id="f1", connection=connection)


def test_certificate_required_alert_is_the_cause_without_response():
    d = diagnose(_exchange(Connection(error=CLOSED, tls=True, tls_error=(
        "[('SSL routines', '', 'tlsv13 alert certificate required')]"))))
    assert (d.verdict, d.cause) == ("authentication", "client-certificate-missing")
    assert "certificate_required" in d.cause_finding.message
    assert "--set client_certs=" in d.cause_finding.message


def test_handshake_failure_proves_it_only_after_a_certificate_request():
    asked = Connection(error=TLS12_FAILURE, tls_error=TLS12_FAILURE, cert_requested=True,
                       cert_authorities=("CN=Corp CA",))
    d = diagnose(_exchange(asked))
    assert (d.verdict, d.cause) == ("authentication", "client-certificate-missing")
    assert "CN=Corp CA" in d.cause_finding.message and "handshake failure" in \
        d.cause_finding.message
    unasked = diagnose(_exchange(Connection(error=TLS12_FAILURE, tls_error=TLS12_FAILURE)))
    assert "client-certificate-missing" not in ids(unasked) and unasked.verdict is None


def test_closed_without_answer_after_a_request_for_a_certificate():
    d = diagnose(_exchange(Connection(error=CLOSED, tls=True, cert_requested=True)))
    assert d.cause == "client-certificate-missing"
    assert "closed the connection without answering" in d.cause_finding.message
    plain = diagnose(_exchange(Connection(error=CLOSED, tls=True)))  # no CertificateRequest
    assert plain.findings == [] and plain.verdict is None


def test_nginx_400_names_it_with_or_without_the_handshake_facts():
    d = diagnose(_exchange(status=400, body=NGINX_400))
    assert (d.verdict, d.cause) == ("authentication", "client-certificate-missing")
    assert "No required SSL certificate was sent" in d.cause_finding.message


def test_refusal_after_a_certificate_request_outranks_the_token_facts():
    d = diagnose(_exchange(Connection(tls=True, cert_requested=True), status=403,
                           headers=[("Authorization", "Bearer abc.def")]))
    assert (d.verdict, d.cause) == ("authentication", "client-certificate-missing")
    assert "refused the call (403)" in d.cause_finding.message


def test_a_certificate_sent_and_refused_is_said_so():
    d = diagnose(_exchange(Connection(
        error="OpenSSL Error([('SSL routines', '', 'tlsv1 alert unknown ca')])",
        tls_error="OpenSSL Error([('SSL routines', '', 'tlsv1 alert unknown ca')])",
        cert_requested=True, cert_sent=True)))
    assert d.cause == "client-certificate-missing"
    assert "refused the client certificate mitmproxy sent" in d.cause_finding.message
    assert "unknown ca" in d.cause_finding.message


def test_a_certificate_sent_and_accepted_says_nothing():
    ok = diagnose(_exchange(Connection(tls=True, cert_requested=True, cert_sent=True),
                            status=200))
    assert ok.findings == [] and ok.verdict is None
    failed_otherwise = diagnose(_exchange(Connection(error=CLOSED, tls=True,
                                                     cert_requested=True, cert_sent=True)))
    assert failed_otherwise.findings == []


def test_connection_facts_from_the_adapter():
    assert connection_of("", True, "", None) is None  # a healthy flow carries none
    facts = connection_of(CLOSED, True, "", {"requested": True, "sent": False,
                                             "authorities": ["CN=A"]})
    assert facts == Connection(error=CLOSED, tls=True, cert_requested=True,
                               cert_authorities=("CN=A",))
    assert connection_of(CLOSED, True, "", {"alert": "x alert certificate required"}
                         ).tls_error == "x alert certificate required"
    assert connection_of(CLOSED, False, "", ["garbage"]) == Connection(error=CLOSED)
