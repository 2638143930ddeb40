"""What mitmproxy's TLS layer knows of the server connection and its flows do not carry: whether
the server sent a CertificateRequest (and which CAs it named), whether mitmproxy had a client
certificate, and an alert the server sent after a TLS 1.3 handshake (mitmproxy only logs it).

``UpstreamTls`` writes these facts into ``flow.metadata[TLS_KEY]`` of the flows on that connection,
before ``Diagnose`` runs, and only when there is one and the flow failed: the adapter reads them into the core's
``Connection`` view, and a .flow file keeps them for ``-nr`` and ``authlens scan``.
"""

from __future__ import annotations

import logging

from mitmproxy import http

from ..recent import Recent
from .adapter import TLS_KEY

ALERT_LOG = "TLS Error: "
"""How mitmproxy logs an alert that arrives after the handshake (``TLSLayer.receive_data``):
TLS 1.3 servers check the client certificate after the client's Finished."""


class _AlertLog(logging.Handler):
    """Keeps, per client address, the last post-handshake alert mitmproxy logged for it."""

    def __init__(self, alerts: Recent):
        super().__init__(logging.WARNING)
        self.alerts = alerts

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
            client = getattr(record, "client", None)
            if message.startswith(ALERT_LOG) and "alert" in message and client:
                self.alerts[tuple(client)] = message[len(ALERT_LOG):][:300]
        except Exception:  # noqa: BLE001 - a log handler must never raise into the proxy
            pass


class UpstreamTls:
    """The TLS hooks for the server side; ``response``/``error`` attach what they saw."""

    def __init__(self, limit: int = 1024):
        self.connections: Recent = Recent(limit)
        """server connection id -> facts (only connections with something to say)"""
        self.alerts: Recent = Recent(limit)
        """client address -> the alert mitmproxy logged after a handshake"""
        self.handler = _AlertLog(self.alerts)

    def running(self):
        logger = logging.getLogger("mitmproxy.proxy.server")
        if self.handler not in logger.handlers:
            logger.addHandler(self.handler)

    def done(self):
        logging.getLogger("mitmproxy.proxy.server").removeHandler(self.handler)

    def tls_established_server(self, data) -> None:
        self._learn(data)

    def tls_failed_server(self, data) -> None:
        self._learn(data)

    def _learn(self, data) -> None:
        """A CertificateRequest names the CAs it takes: a client-side ``SSL_get_client_CA_list``
        is exactly that list (empty when the server named none, or asked nothing)."""
        ssl_conn = data.ssl_conn
        if ssl_conn is None:
            return
        names = ssl_conn.get_client_ca_list()
        if not names:
            return
        self.connections[data.conn.id] = {
            "requested": True, "sent": ssl_conn.get_certificate() is not None,
            "authorities": [_name(n) for n in names[:8]]}

    def response(self, flow: http.HTTPFlow) -> None:
        """Attach the facts to a flow that failed (a healthy call keeps the cheap gate)."""
        if flow.response is not None and flow.response.status_code < 400:
            return
        seen = self.connections.get(flow.server_conn.id)
        if seen is None and flow.response is None and flow.server_conn.tls_established:
            alert = self.alerts.get(flow.client_conn.peername)
            seen = {"alert": alert} if alert else None
        if seen is not None and TLS_KEY not in flow.metadata:
            flow.metadata[TLS_KEY] = dict(seen)

    error = response


def _name(name) -> str:
    """An X509Name as ``CN=test CA, O=...``."""
    return ", ".join(f"{k.decode()}={v.decode('utf-8', 'replace')}"
                     for k, v in name.get_components())
