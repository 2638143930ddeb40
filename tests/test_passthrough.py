"""authlens never changes the traffic: through a real mitmdump, the upstream receives the same bytes
and the client the same responses with the addon as without it.

HTTP/1.1: a raw socket client (so the test controls every byte: quotes, tabs, invisible and
non-UTF-8 characters, duplicate and huge headers, ``Name:value`` without a space) sends each
request in absolute form; the upstream records the raw request bytes, the client the raw response
bytes. HTTP/2: curl speaks h2 to mitmdump through a CONNECT tunnel (TLS, ALPN h2); mitmdump speaks
HTTP/1.1 over TLS to the upstream, whose raw bytes are compared, and the client compares what h2
delivered (status line, headers in order, body, as curl prints them). mitmproxy re-serialises some things (``Name:value``
becomes ``Name: value``) in both runs alike, so each run is compared with the other, not with the
input.
"""

from __future__ import annotations

import datetime
import ssl

import pytest
from harness import Response, curl, send_raw

JWT = ("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1c2VyLTEiLCJleHAiOjE3MDAwMDAwMDB9."
       "c2lnbmF0dXJlLW5vdC1jaGVja2Vk")
CHALLENGES = [("WWW-Authenticate", 'Bearer realm="api", error="invalid_token", '
                                   'error_description="expired"'),
              ("WWW-Authenticate", 'Basic realm="x", charset="UTF-8'),  # unterminated quote
              ("Content-Type", "application/json")]
ROUTES = {
    "/refused": Response(401, CHALLENGES, b'{"error":{"code":"InvalidAuthenticationToken",'
                                          b'"message":"Access token has expired."}}'),
    "/forbidden": Response(403, [("WWW-Authenticate", 'Bearer error="insufficient_scope", '
                                                      'scope="a b"')], b"no"),
    "/token": Response(400, [("Content-Type", "application/json"), ("Cache-Control", "no-store")],
                       b'{"error":"invalid_grant","error_description":"AADSTS70008: expired"}'),
    "/ok": Response(200, [("Content-Type", "application/json"), ("Set-Cookie", "sid=1; Path=/")],
                    b'{"ok": true, "items": [1, 2, 3]}'),
}
AUTHORIZATIONS = [
    f'"Bearer {JWT}"'.encode(),
    f"Bearer\t{JWT}\t".encode(),
    f"Bearer \u200b{JWT}\ufeff".encode(),
    b"Bearer " + JWT.encode() + b"\xff\xfe",  # not UTF-8
    b"Basic " + b"dXNlcjpw\xe9c3M=",
    b"Bearer Bearer {{token}}",
    b"Bearer " + b"A" * 60_000,  # a huge header
    b"",
]


def http1_requests(port: int) -> list[bytes]:
    target = f"http://127.0.0.1:{port}"
    host = f"Host: 127.0.0.1:{port}\r\n".encode()
    out = []
    for i, authorization in enumerate(AUTHORIZATIONS):
        path = ("/refused", "/forbidden", "/ok")[i % 3]
        out.append(b"GET " + f"{target}{path}?access_token=q{i}".encode() + b" HTTP/1.1\r\n" + host
                   + b"Authorization: " + authorization + b"\r\nConnection: close\r\n\r\n")
    out.append(f"GET {target}/refused HTTP/1.1\r\n".encode() + host
               + b"Authorization: Bearer one\r\nauthorization:Bearer two\r\n"
               + b"Cookie: session=abc; theme=dark\r\nConnection: close\r\n\r\n")
    form = b"grant_type=refresh_token&refresh_token=r%2Bt&client_secret=s3cr%C3%A9t&x=%ZZ"
    out.append(f"POST {target}/token HTTP/1.1\r\n".encode() + host
               + b"Content-Type: application/x-www-form-urlencoded\r\n"
               + f"Content-Length: {len(form)}\r\nConnection: close\r\n\r\n".encode() + form)
    return out


def run_http1(mitmdump, upstream, with_authlens: bool) -> tuple[list[bytes], list[bytes]]:
    upstream.requests.clear()
    proxy = mitmdump() if with_authlens else mitmdump(script=None)
    responses = [send_raw(proxy.listen_port, raw) for raw in http1_requests(upstream.port)]
    output = proxy.stop()
    assert "Traceback" not in output and "internal error" not in output
    return [r.raw for r in upstream.requests], responses


def test_http1_requests_and_responses_are_byte_identical(mitmdump, upstream):
    for path, response in ROUTES.items():
        upstream.route(path, response.status, response.headers, response.body)
    without = run_http1(mitmdump, upstream, False)
    with_addon = run_http1(mitmdump, upstream, True)
    assert len(without[0]) == len(http1_requests(upstream.port))
    assert all(r.startswith(b"HTTP/1.1 ") for r in without[1])
    assert with_addon == without


# ---- HTTP/2 ---------------------------------------------------------------------------------------

def self_signed(tmp_path) -> ssl.SSLContext:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    pem = tmp_path / "upstream.pem"
    pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM) + key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pem)
    return context


H2_HEADERS = [
    [f'Authorization: "Bearer {JWT}"'],
    [f"Authorization: Bearer \u200b{JWT}"],
    ["Authorization: Bearer a", "Authorization: Basic Og=="],
    ["X-API-Key: key 123\u00a0x", "Cookie: session=abc"],
    ["Authorization: Bearer " + "B" * 30_000],
]


def run_http2(mitmdump, upstream, with_authlens: bool) -> tuple[list[bytes], list[bytes]]:
    upstream.requests.clear()
    # lazy + no upstream_cert: mitmdump picks h2 with the client before it talks to the upstream
    options = {"ssl_insecure": True, "connection_strategy": "lazy", "upstream_cert": False}
    proxy = mitmdump(options=options) if with_authlens else mitmdump(script=None, options=options)
    seen = []
    base = f"https://127.0.0.1:{upstream.port}"
    calls = [[f"{base}{('/refused', '/forbidden', '/ok')[i % 3]}?token=t{i}",
              *(arg for header in headers for arg in ("-H", header))]
             for i, headers in enumerate(H2_HEADERS)]
    calls.append([f"{base}/token", "--data", "grant_type=client_credentials&client_secret=s%C3%A9"])
    for url, *args in calls:
        done = curl(proxy.proxy_url, url, "--http2", "--cacert", str(proxy.ca_cert), "-D", "-",
                    *args)
        assert done.returncode == 0, done.stderr
        assert b"\r\n\r\nHTTP/2 " in done.stdout, done.stdout[:100]  # after the CONNECT answer
        seen.append(done.stdout)
    output = proxy.stop()
    assert "Traceback" not in output and "internal error" not in output
    return [r.raw for r in upstream.requests], seen


@pytest.fixture
def tls_upstream(upstream, tmp_path):
    server = upstream._server
    server.socket = self_signed(tmp_path).wrap_socket(server.socket, server_side=True)
    return upstream


def test_http2_client_side_is_identical_with_and_without_authlens(mitmdump, tls_upstream):
    for path, response in ROUTES.items():
        tls_upstream.route(path, response.status, response.headers, response.body)
    without = run_http2(mitmdump, tls_upstream, False)
    with_addon = run_http2(mitmdump, tls_upstream, True)
    assert len(without[0]) == len(H2_HEADERS) + 1
    assert with_addon == without
