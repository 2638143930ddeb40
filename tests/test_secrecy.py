"""No secret leaks: every channel authlens writes to is scanned for every full secret the client
sent or the server issued, through a real mitmdump. Then the same run with ``authlens_reveal``
shows them, which proves the scan looks in the right places.

Channels: the terminal (rich blocks and summary, log lines, JSON lines: stdout and stderr), the
JSON report, the flow comments and ``flow.metadata`` read back from the ``-w`` capture, and the
``authlens redact`` copy of that capture when the command exists.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
import time

import jwt
import pytest
from harness import Response, Upstream, read_flows

NOW = time.time()
JWT = jwt.encode({"iss": "https://login.example.test/t/v2.0", "aud": "api://orders",
                  "scp": "Orders.Read", "iat": int(NOW - 7200), "exp": int(NOW - 3600)},
                 "secrecy-test-signing-key-0123456789abcdef", algorithm="HS256")
PASSWORD = "hunter2-Secret-Passw0rd-77"
BASIC = base64.b64encode(f"svc-user:{PASSWORD}".encode()).decode()
API_KEY = "sk_live_51HxYzAbCdEfGhIjKlMnOpQrStUv"
QUERY_TOKEN = "qtok_9f8e7d6c5b4a39281706f5e4d3c2b1a0"
COOKIE = "sess_4Zr8Qm2Lp6Wn1Xt7Yv3Bk9Hc5Jd0Fg"
CLIENT_SECRET = "cs_Q8wE2rT6yU1iO5pA9sD3fG7hJ0kL4z"
REFRESH = "rt_M1nB5vC9xZ3lK7jH2gF6dS0aP4oI8u"
ISSUED_ACCESS = "at_Y6tR2eW8qA4sD0fG5hJ9kL3zX7cV1bN"
ISSUED_REFRESH = "rt_P0oI9uY8tR7eW6qA5sD4fG3hJ2kL1zX"
SIGNATURE = "5c1e9a7b3d2f8e6a4c0b9d7f5e3a1c8b6d4f2e0a9c7b5d3f1e8a6c4b2d0f9e7a"
IMPLICIT = "imp_W3eR5tY7uI9oP1aS3dF5gH7jK9lZ"
REFERER_KEY = "rk_live_8Hn3Bv6Cx9Zl2Kj5Hg8Fd1Sa"
FORM_PASSWORD = "mp_Kx7Vb2Nm9Qw4Er6Ty1Ui3Op"
LINK_TOKEN = "lk_Zq8Wx3Ec5Rv7Tb9Yn2Um4Ik"
SECRETS = {"jwt": JWT, "basic": BASIC, "password": PASSWORD, "api key": API_KEY,
           "query token": QUERY_TOKEN, "cookie": COOKIE, "client secret": CLIENT_SECRET,
           "refresh token": REFRESH, "issued access token": ISSUED_ACCESS,
           "issued refresh token": ISSUED_REFRESH, "presigned signature": SIGNATURE,
           "implicit-grant token": IMPLICIT, "key in a Referer": REFERER_KEY,
           "multipart password": FORM_PASSWORD, "token in a Link": LINK_TOKEN}
CHALLENGE = [("WWW-Authenticate", 'Bearer realm="api", error="invalid_token"'),
             ("Content-Type", "application/json")]


def token_endpoint(request) -> Response:
    if b"grant_type=refresh_token" in request.body:  # the server echoes the bad grant
        return Response(400, [("Content-Type", "application/json")], json.dumps(
            {"error": "invalid_grant", "error_description": f"refresh token {REFRESH} revoked"}))
    return Response(200, [("Content-Type", "application/json")], json.dumps(
        {"access_token": ISSUED_ACCESS, "refresh_token": ISSUED_REFRESH, "token_type": "Bearer",
         "expires_in": 3600}))


def presigned_redirect(files) -> Response:
    """An export that redirects to a presigned download on another origin (where the client
    drops its Authorization), the way S3 and GCS links work; the fragment carries a token as the
    implicit grant's redirect does."""
    target = (files.url("/files/report.pdf") + f"?X-Amz-Expires=300&X-Amz-Signature={SIGNATURE}"
              f"#access_token={IMPLICIT}&token_type=Bearer")
    return Response(302, [("Location", target)], b"")


def send_everything(proxy_url: str, upstream) -> None:
    import requests
    session = requests.Session()
    session.trust_env = False
    session.proxies = {"http": proxy_url}
    api = upstream.url("/api")
    calls = [
        {"headers": {"Authorization": f"Bearer {JWT}"}},
        {"headers": {"Authorization": f'"Bearer {JWT}"'}},
        {"headers": {"Authorization": f"Basic {BASIC}"}},
        {"headers": {"X-API-Key": API_KEY}},
        {"params": {"access_token": QUERY_TOKEN}},
        {"headers": {"Cookie": f"session={COOKIE}; theme=dark"}},
        {"headers": {"Authorization": f"Bearer {ISSUED_ACCESS}"}},
    ]
    issued = session.post(upstream.url("/oauth2/token"), data={
        "grant_type": "client_credentials", "client_id": "app", "client_secret": CLIENT_SECRET})
    assert issued.json()["refresh_token"] == ISSUED_REFRESH
    for call in calls:
        assert session.get(api, **call).status_code == 401
    followed = session.get(upstream.url("/export"), headers={
        "Authorization": f"Bearer {JWT}", "Referer": f"http://app.test/?api_key={REFERER_KEY}"})
    assert followed.status_code == 401 and followed.history[0].status_code == 302
    login = session.post(upstream.url("/login"), files={"username": (None, "ada"),
                                                        "password": (None, FORM_PASSWORD)})
    assert login.status_code == 401 and b"multipart/form-data" in login.request.headers[
        "Content-Type"].encode()
    refused = session.post(upstream.url("/oauth2/token"), data={
        "grant_type": "refresh_token", "client_id": "app", "client_secret": CLIENT_SECRET,
        "refresh_token": REFRESH})
    assert refused.json()["error"] == "invalid_grant"


def squeeze(text: str) -> str:
    """Rich folds long values across lines and boxes: drop whitespace and box drawing."""
    return re.sub(r"[\s\u2500-\u257f]", "", text)


def redact_command() -> bool:
    done = subprocess.run([sys.executable, "-m", "authlens", "redact", "--help"],
                          capture_output=True)
    return done.returncode == 0


def channels(proxy, tmp_path) -> dict[str, str]:
    """Everything authlens wrote, by channel."""
    out = {"terminal": proxy.stop()}
    report = proxy.dir / "report.json"
    if report.exists():
        out["report"] = report.read_text()
    flows = read_flows(proxy.flow_file)
    out["comments"] = "\n".join(f.comment for f in flows)
    out["metadata"] = json.dumps([f.metadata for f in flows], ensure_ascii=False)
    if redact_command():
        copy = tmp_path / f"redacted-{proxy.dir.name}.flow"
        subprocess.run([sys.executable, "-m", "authlens", "redact", str(proxy.flow_file),
                        str(copy)], check=True, capture_output=True)
        out["redacted capture"] = copy.read_bytes().decode("utf-8", "replace")
    return out


@pytest.fixture
def api(upstream):
    upstream.route("/api", 401, CHALLENGE, b'{"error":"invalid_token"}')
    upstream.route("/oauth2/token", handler=token_endpoint)
    upstream.route("/login", 401, CHALLENGE + [  # a next-page link that echoes a token
        ("Link", f'<{upstream.url("/api")}?page=2&access_token={LINK_TOKEN}>; rel="next"')],
        b'{"error":"invalid_token"}')
    with Upstream() as files:  # another origin: a redirect there drops the Authorization
        files.route("/files/report.pdf", 401, CHALLENGE, b'{"error":"invalid_token"}')
        upstream.route("/export", handler=lambda _request: presigned_redirect(files))
        yield upstream


def leaks(found: dict[str, str]) -> list[tuple[str, str]]:
    return [(channel, name) for channel, text in found.items() for name, secret in SECRETS.items()
            if secret in text or secret in squeeze(text)]


@pytest.mark.parametrize("output", ["rich", "log", "json"])
def test_no_channel_carries_a_secret(api, mitmdump, tmp_path, output):
    proxy = mitmdump(options={"authlens_output": output, "authlens_report": "report.json"})
    send_everything(proxy.proxy_url, api)
    found = channels(proxy, tmp_path)
    assert "[authlens]" in found["comments"] and found["report"]  # there was something to say
    assert leaks(found) == []


def test_reveal_shows_them_so_the_scan_works(api, mitmdump, tmp_path):
    proxy = mitmdump(options={"authlens_output": "rich", "authlens_report": "report.json",
                              "authlens_reveal": True})
    send_everything(proxy.proxy_url, api)
    found = channels(proxy, tmp_path)
    shown = {name for _, name in leaks(found)}
    assert {"jwt", "basic", "api key", "query token", "cookie", "issued access token",
            "presigned signature", "refresh token", "client secret"} <= shown



def test_github_sso_authorization_request_is_redacted_in_urls():
    from authlens.secrecy import redact_url
    url = "https://github.com/orgs/acme/sso?authorization_request=AbCdEf0123456789secretvalue"
    shown = redact_url(url)
    assert "AbCdEf0123456789secretvalue" not in shown
    assert shown.startswith("https://github.com/orgs/acme/sso?authorization_request=")
    assert redact_url(url, reveal=True) == url
