"""Regenerate the sample captures: real clients, through a real mitmdump, against loopback servers.

    python3 captures/make_captures.py [STORY ...]

One loopback server plays every host of the story world: the token endpoints
(``login.example.test``, ``login.staging.example.test``) and the API (``api.example.test``), told
apart by the Host header. It validates tokens for real (pyjwt, the HS256 test key below) and answers
the way real APIs do (``WWW-Authenticate`` challenges, JSON error bodies). For each story a fresh
``mitmdump -w captures/<story>.flow`` records while httpx or curl run the client side through it;
``loopback_dns.py`` only points the proxy's upstream connections at the server (there is no DNS
here), so the flows keep their real host names. All tokens and secrets are test values.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt

HERE = Path(__file__).resolve().parent
KEY = "authlens-captures-test-key-not-a-secret-0123456789"
PROD_ISSUER = "https://login.example.test/tenant-a/v2.0"
STAGING_ISSUER = "https://login.staging.example.test/tenant-a/v2.0"
API = "http://api.example.test"
LOGIN = "http://login.example.test"
STAGING_LOGIN = "http://login.staging.example.test"
# Tokens outside the expiry stories live ten years, so the captures keep telling their story when
# replayed later (client replay against this server validates them again, at replay time).
LONG = 10 * 365 * 86400
CLIENT_ID, CLIENT_SECRET = "orders-cli", "test-client-secret-4f1c9a"
REFRESH_TOKEN = "test-refresh-token-8d2e5b7c1a"
API_KEY = "test-api-key-5e0b8c2f7d9a41"
SESSION_COOKIE = "test-session-6a1f3e9b2c"


def mint(issuer: str = PROD_ISSUER, audience: str = "api://orders", lifetime: int = LONG,
         age: int = 60, **claims) -> str:
    now = int(time.time())
    payload = {"iss": issuer, "aud": audience, "sub": "user-1", "tid": "tenant-a",
               "scope": "orders:read orders:write", "iat": now - age, "exp": now - age + lifetime,
               **claims}
    return jwt.encode(payload, KEY, algorithm="HS256")


# ---- the loopback server ------------------------------------------------------------------


class World(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.route()

    def do_POST(self):
        self.route()

    def route(self):
        host = (self.headers.get("Host") or "").split(":")[0]
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if host.startswith("login."):
            issuer = STAGING_ISSUER if ".staging." in host else PROD_ISSUER
            return self.token_endpoint(issuer, parse_qs(body.decode()))
        path = urlsplit(self.path).path
        if path == "/v1/reports":
            return self.api_key_endpoint()
        if path == "/v1/me":
            if self.headers.get("Cookie", "") == f"session={SESSION_COOKIE}":
                return self.send_json(200, {"user": "user-1"})
            return self.send_json(401, {"error": "login_required"})
        self.bearer_endpoint(path)

    def token_endpoint(self, issuer: str, form: dict):
        grant = form.get("grant_type", [""])[0]
        if form.get("client_secret", [""])[0] != CLIENT_SECRET:
            return self.send_json(401, {"error": "invalid_client"})
        if grant not in ("client_credentials", "refresh_token", "password"):
            return self.send_json(400, {"error": "unsupported_grant_type"})
        self.send_json(200, {"access_token": mint(issuer), "token_type": "Bearer",
                             "expires_in": LONG, "refresh_token": REFRESH_TOKEN,
                             "scope": "orders:read orders:write"},
                       [("Set-Cookie", f"session={SESSION_COOKIE}; HttpOnly; Path=/")])

    def api_key_endpoint(self):
        if self.headers.get("X-API-Key") == API_KEY:
            return self.send_json(200, {"reports": []})
        self.send_json(401, {"error": "unauthorized", "message": "missing X-API-Key header"},
                       [("WWW-Authenticate", 'ApiKey realm="reports", header="X-API-Key"')])

    def bearer_endpoint(self, path: str):
        auth = self.headers.get("Authorization", "")
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer":
            return self.challenge(401, 'Bearer realm="orders"')
        try:
            claims = jwt.decode(token, KEY, algorithms=["HS256"], audience="api://orders",
                                issuer=PROD_ISSUER)
        except jwt.ExpiredSignatureError:
            return self.challenge(401, 'Bearer realm="orders", error="invalid_token", '
                                       'error_description="The access token expired"')
        except jwt.InvalidAudienceError:
            return self.challenge(401, 'Bearer realm="orders", error="invalid_token", '
                                       'error_description="The audience is invalid"')
        except jwt.InvalidIssuerError:
            return self.challenge(401, 'Bearer realm="orders", error="invalid_token", '
                                       'error_description="The issuer is not trusted"')
        except jwt.InvalidTokenError:
            return self.challenge(401, 'Bearer realm="orders", error="invalid_token", '
                                       'error_description="The access token is malformed"')
        if path.startswith("/v1/admin") and "admin" not in claims.get("roles", []):
            return self.send_json(403, {"error": "forbidden",
                                        "error_description": "role 'admin' is required"})
        needed = "orders:write" if self.command == "POST" else "orders:read"
        if needed not in claims.get("scope", "").split():
            return self.challenge(403, f'Bearer realm="orders", error="insufficient_scope", '
                                       f'scope="{needed}"')
        self.send_json(201 if self.command == "POST" else 200, {"orders": [], "path": path})

    def challenge(self, status: int, value: str):
        self.send_json(status, {"error": "unauthorized"}, [("WWW-Authenticate", value)])

    def send_json(self, status: int, payload: dict, headers=()):
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


# ---- the stories: what the client does ----------------------------------------------------


def token_request(client: httpx.Client, login: str, grant: str, **extra) -> httpx.Response:
    form = {"grant_type": grant, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, **extra}
    return client.post(f"{login}/oauth2/token", data=form)


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def healthy(client, proxy):
    token = token_request(client, LOGIN, "client_credentials").json()["access_token"]
    client.get(f"{API}/v1/orders", headers=bearer(token))
    client.post(f"{API}/v1/orders", headers=bearer(token), json={"item": "book"})
    client.get(f"{API}/v1/reports", headers={"X-API-Key": API_KEY})
    client.get(f"{API}/v1/me", headers={"Cookie": f"session={SESSION_COOKIE}"})


def expired_token(client, proxy):
    client.get(f"{API}/v1/orders", headers=bearer(mint(lifetime=3600, age=7200)))


def quoted_header(client, proxy):
    # curl, as a shell script with a JSON-encoded variable would send it
    curl(proxy, "-H", f'Authorization: "Bearer {mint()}"', f"{API}/v1/orders")


def missing_bearer(client, proxy):
    client.get(f"{API}/v1/orders", headers={"Authorization": mint()})


def placeholder(client, proxy):
    client.get(f"{API}/v1/orders", headers={"Authorization": "Bearer {{access_token}}"})


def wrong_audience(client, proxy):
    client.get(f"{API}/v1/orders", headers=bearer(mint(audience="api://billing")))


def wrong_environment(client, proxy):
    response = token_request(client, STAGING_LOGIN, "password", username="dev@example.test",
                             password="test-password-staging-1")
    client.get(f"{API}/v1/orders", headers=bearer(response.json()["access_token"]))


def insufficient_scope(client, proxy):
    token = mint(scope="orders:read")
    client.get(f"{API}/v1/orders", headers=bearer(token))
    client.post(f"{API}/v1/orders", headers=bearer(token), json={"item": "book"})


def role_missing(client, proxy):
    client.get(f"{API}/v1/admin/users", headers=bearer(mint(roles=["reader"])))


def refresh_stale_token(client, proxy):
    stale = mint(lifetime=3600, age=3700)
    client.get(f"{API}/v1/orders", headers=bearer(stale))
    token_request(client, LOGIN, "refresh_token", refresh_token=REFRESH_TOKEN)
    client.get(f"{API}/v1/orders", headers=bearer(stale))  # the bug: the old token is reused


def api_key_in_query(client, proxy):
    client.get(f"{API}/v1/reports", params={"api_key": API_KEY})


STORIES = {f.__name__: f for f in (
    healthy, expired_token, quoted_header, missing_bearer, placeholder, wrong_audience,
    wrong_environment, insufficient_scope, role_missing, refresh_stale_token, api_key_in_query)}


# ---- plumbing -----------------------------------------------------------------------------


def curl(proxy: str, *args: str) -> None:
    subprocess.run(["curl", "-s", "-o", os.devnull, "-x", proxy, *args], check=True)


def free_port() -> int:
    """A currently unused TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on {port}")


def record(story: str, server_port: int, out: Path) -> None:
    """Run one story through a fresh recording mitmdump."""
    port = free_port()
    proxy = subprocess.Popen(
        ["mitmdump", "-q", "--listen-host", "127.0.0.1", "--listen-port", str(port),
         "-w", str(out), "-s", str(HERE / "loopback_dns.py")],
        env={**os.environ, "LOOPBACK_PORT": str(server_port)})
    try:
        wait_for_port(port)
        with httpx.Client(proxy=f"http://127.0.0.1:{port}", timeout=10) as client:
            STORIES[story](client, f"http://127.0.0.1:{port}")
    finally:
        proxy.terminate()
        proxy.wait(timeout=20)


def main(argv: list[str]) -> int:
    stories = argv or list(STORIES)
    server = ThreadingHTTPServer(("127.0.0.1", 0), World)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        for story in stories:
            out = HERE / f"{story}.flow"
            record(story, server.server_address[1], out)
            print(f"{out.name}: {out.stat().st_size} bytes")
    finally:
        server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
