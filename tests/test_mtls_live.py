"""Mutual TLS through a real mitmdump: a Debian nginx with ``ssl_verify_client on`` (it completes
the handshake, names its CA in the CertificateRequest and answers 400 without a certificate) and
``optional`` (403 from the application without one), and a Python ``ssl`` server with
``CERT_REQUIRED`` over TLS 1.3 (it ends the connection with the ``certificate_required`` alert
after the handshake, naming no CA), called by curl and httpx. Without ``client_certs`` the cause is
``client-certificate-missing``; with it every call succeeds and says nothing. The certificates are
made here with ``cryptography``."""

from __future__ import annotations

import datetime
import ipaddress
import os
import shutil
import ssl
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from harness import Mitmdump, curl, free_port

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(cn: str, key, issuer: str, signer, ca=False, usage=None) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(_name(issuer))
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(hours=1))
               .not_valid_after(now + datetime.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if usage == ExtendedKeyUsageOID.SERVER_AUTH:
        builder = builder.add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
    if usage is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    return builder.sign(signer, hashes.SHA256())


def make_certs(folder) -> dict[str, str]:
    """A CA, a server certificate for 127.0.0.1 and a client certificate (PEM files)."""
    def pem(*parts) -> bytes:
        return b"".join(p.public_bytes(serialization.Encoding.PEM) if isinstance(
            p, x509.Certificate) else p.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()) for p in parts)

    ca_key, server_key, client_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    ca = _cert("authlens test CA", ca_key, "authlens test CA", ca_key, ca=True)
    server = _cert("127.0.0.1", server_key, "authlens test CA", ca_key,
                   usage=ExtendedKeyUsageOID.SERVER_AUTH)
    client = _cert("client-1", client_key, "authlens test CA", ca_key,
                   usage=ExtendedKeyUsageOID.CLIENT_AUTH)
    files = {"ca": pem(ca), "server_cert": pem(server), "server_key": pem(server_key),
             "client": pem(client, client_key)}
    paths = {}
    for name, data in files.items():
        paths[name] = str(folder / f"{name}.pem")
        with open(paths[name], "wb") as fo:
            fo.write(data)
    return paths


class Nginx:
    """The Debian nginx on 127.0.0.1:``port``, requiring a client certificate from ``ca``
    (``ssl_verify_client on``), and on ``optional_port`` asking for one and answering 403
    without it (``optional``: the application decides)."""

    def __init__(self, folder, certs: dict[str, str]):
        self.port, self.optional_port = free_port(), free_port()
        folder.mkdir()
        conf = folder / "nginx.conf"
        temp = folder / "temp"
        conf.write_text(f"""daemon off;
worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/error.log warn;
events {{ worker_connections 64; }}
http {{
  access_log off;
  client_body_temp_path {temp}; proxy_temp_path {temp}; fastcgi_temp_path {temp};
  uwsgi_temp_path {temp}; scgi_temp_path {temp};
  server {{
    listen 127.0.0.1:{self.port} ssl;
    ssl_certificate {certs['server_cert']};
    ssl_certificate_key {certs['server_key']};
    ssl_client_certificate {certs['ca']};
    ssl_verify_client on;
    location / {{ return 200 "hello $ssl_client_s_dn\\n"; }}
  }}
  server {{
    listen 127.0.0.1:{self.optional_port} ssl;
    ssl_certificate {certs['server_cert']};
    ssl_certificate_key {certs['server_key']};
    ssl_client_certificate {certs['ca']};
    ssl_verify_client optional;
    location / {{
      if ($ssl_client_verify != SUCCESS) {{ return 403 "certificate required\\n"; }}
      return 200 "hello $ssl_client_s_dn\\n";
    }}
  }}
}}
""")
        self.proc = subprocess.Popen([NGINX, "-p", str(folder), "-c", str(conf), "-e",
                                      str(folder / "error.log")], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        _wait_for_port(self.port, self.proc)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


class StrictTls13:
    """A Python ``ssl`` HTTPS server, TLS 1.3 only, ``CERT_REQUIRED``: no certificate, and it
    sends the ``certificate_required`` alert once the client's handshake is done."""

    def __init__(self, certs: dict[str, str]):
        class Hello(BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Length", "3")
                self.end_headers()
                self.wfile.write(b"ok\n")

            def log_message(self, *args):
                pass

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_3
        context.load_cert_chain(certs["server_cert"], certs["server_key"])
        context.load_verify_locations(certs["ca"])
        context.verify_mode = ssl.CERT_REQUIRED

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def finish_request(self, request, client_address):
                """The handshake in the connection's own thread, not in accept (one client
                that waits must not hold up the next)."""
                request.settimeout(10)
                try:
                    tls = context.wrap_socket(request, server_side=True)
                except OSError:  # no certificate: the alert is sent, the connection ends
                    return
                self.RequestHandlerClass(tls, client_address, self)

        self.server = Server(("127.0.0.1", 0), Hello)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 10) -> None:
    import socket
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "nginx exited"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


@pytest.fixture
def servers(tmp_path):
    if not os.path.exists(NGINX):
        if os.environ.get("CI") == "true":
            pytest.fail("nginx is missing (CI=true: scripts/setup installs it)")
        pytest.skip("nginx is missing (scripts/setup installs it)")
    certs = make_certs(tmp_path)
    nginx, strict = Nginx(tmp_path / "nginx", certs), StrictTls13(certs)
    yield certs, nginx, strict
    nginx.stop()
    strict.stop()


WAIT = 4
"""Seconds a client waits. When the TLS 1.3 alert arrives before the server's FIN, mitmproxy
(11 and 12: ``TLSLayer.receive_close`` sees RECEIVED_SHUTDOWN and passes the close on to no one)
leaves the flow open until the client gives up; whether it does is a race. Either way the flow
ends without a response and its cause must be the same: the clients wait this long, no more."""


def _calls(proxy: Mitmdump, nginx: Nginx, strict: StrictTls13) -> list[tuple[str, int]]:
    """curl and httpx to the three servers through ``proxy``: (who, HTTP status; 0: the client
    gave up on the TLS 1.3 server after ``WAIT`` s, and a 502 counts as 0 too: no answer from the
    server either way)."""
    outcomes = []
    for port in (nginx.port, strict.port, nginx.optional_port):
        url, wait = f"https://127.0.0.1:{port}/orders", WAIT if port == strict.port else 30
        done = curl(proxy.proxy_url, url, "--cacert", str(proxy.ca_cert), "-o", "/dev/null",
                    "-w", "%{http_code}", "--max-time", str(wait), timeout=wait + 10)
        outcomes.append(("curl", int(done.stdout or 0)))
        with httpx.Client(proxy=proxy.proxy_url, verify=ssl.create_default_context(
                cafile=str(proxy.ca_cert)), trust_env=False, timeout=wait) as client:
            try:
                outcomes.append(("httpx", client.get(url).status_code))
            except httpx.TimeoutException:
                outcomes.append(("httpx", 0))
    return [(who, 0 if status == 502 else status) for who, status in outcomes]


def _meta(flow) -> dict:
    return flow.metadata.get("authlens") or {}


def test_missing_client_certificate_named_and_fixed_by_client_certs(servers, tmp_path):
    certs, nginx, strict = servers
    trust = {"ssl_verify_upstream_trusted_ca": certs["ca"], "authlens_output": "rich"}

    with Mitmdump(tmp_path, options=trust) as proxy:
        outcomes = _calls(proxy, nginx, strict)
    assert outcomes == [("curl", 400), ("httpx", 400), ("curl", 0), ("httpx", 0),
                        ("curl", 403), ("httpx", 403)]
    output = proxy.output()
    assert "internal error" not in output
    flows = proxy.read_flows()
    by_port = {port: [f for f in flows if f.request.port == port]
               for port in (nginx.port, strict.port, nginx.optional_port)}
    assert [len(found) for found in by_port.values()] == [2, 2, 2]
    for flow in by_port[nginx.port]:  # handshake done, CA named, nginx's own 400
        meta = _meta(flow)
        assert (meta.get("verdict"), meta.get("cause")) == ("authentication",
                                                             "client-certificate-missing")
        assert flow.response.status_code == 400
        assert "CN=authlens test CA" in flow.comment and "client_certs=" in flow.comment
    for flow in by_port[strict.port]:  # TLS 1.3: the alert after the handshake, no response
        meta = _meta(flow)
        assert flow.response is None and flow.server_conn.tls_established
        assert (meta.get("verdict"), meta.get("cause")) == ("authentication",
                                                             "client-certificate-missing")
        assert "certificate_required" in flow.comment
    for flow in by_port[nginx.optional_port]:  # asked (CA named), none sent, then a 403
        meta = _meta(flow)
        assert (meta.get("verdict"), meta.get("cause")) == ("authentication",
                                                             "client-certificate-missing")
        assert "refused the call (403)" in flow.comment
    assert "client-certificate-missing" in output  # the terminal block

    # read back offline, the facts the TLS hooks saw come from the .flow file
    replayed = Mitmdump(tmp_path, options={"authlens_output": "off"})
    replayed.replay(proxy.flow_file)
    assert [_meta(f).get("cause") for f in replayed.read_flows()] == [
        _meta(f).get("cause") for f in flows]
    from authlens.analyze import Analyzer, default_trackers
    from authlens.capture import flowfile
    analyzer = Analyzer(trackers=default_trackers())
    assert [analyzer.analyze(e).cause for e in flowfile.exchanges(str(proxy.flow_file))] == [
        "client-certificate-missing"] * 6

    with Mitmdump(tmp_path, options={**trust, "client_certs": certs["client"]}) as proxy:
        outcomes = _calls(proxy, nginx, strict)
    assert outcomes == [("curl", 200), ("httpx", 200)] * 3
    flows = proxy.read_flows()
    assert b"CN=client-1" in flows[0].response.content
    for flow in flows:
        assert not _meta(flow) and not flow.comment and not flow.marked
        assert "authlens_tls" not in flow.metadata
