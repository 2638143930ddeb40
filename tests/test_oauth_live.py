"""A token's whole life through a real mitmdump: a real OAuth 2.0 authorization server (Authlib's
Flask AuthorizationServer: password, refresh_token with rotation, client_credentials, RFC 7009
revocation; 2-second tokens) and a resource server (Authlib's ResourceProtector, 401
``Bearer error="invalid_token"``), on loopback ports; an httpx client goes through login, use,
expiry, refresh, stale reuse, a rotated and a revoked refresh token, a refresh with another
client_id, a wrong client secret and the other token endpoint errors. Every finding is checked in
the flows mitmdump wrote (``-w``, harness.Mitmdump), with its links and the flow comment, and the
exit summary.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field

import httpx
from authlib.integrations.flask_oauth2 import AuthorizationServer, ResourceProtector
from authlib.oauth2.rfc6749 import ClientMixin, TokenMixin, grants
from authlib.oauth2.rfc6750 import BearerTokenValidator
from authlib.oauth2.rfc7009 import RevocationEndpoint
from flask import Flask
from harness import Mitmdump

LIFETIME = 2
"""Seconds an access token lives: the whole story takes a few lifetimes."""
AUTH = ["client_secret_basic", "client_secret_post"]


# ---- the authorization server (Authlib) -----------------------------------------------------

@dataclass
class Client(ClientMixin):
    client_id: str
    secret: str
    grant_types: tuple
    scope: str = "orders profile"

    def get_client_id(self):
        return self.client_id

    def get_default_redirect_uri(self):
        return None

    def get_allowed_scope(self, scope):
        allowed = set(self.scope.split())
        return " ".join(s for s in (scope or "").split() if s in allowed)

    def check_redirect_uri(self, redirect_uri):
        return False

    def check_client_secret(self, client_secret):
        return secrets.compare_digest(self.secret, client_secret)

    def check_endpoint_auth_method(self, method, endpoint):
        return method in AUTH

    def check_response_type(self, response_type):
        return False

    def check_grant_type(self, grant_type):
        return grant_type in self.grant_types


CLIENTS = {c.client_id: c for c in (
    Client("app", "app-secret", ("password", "refresh_token")),
    Client("app-b", "b-secret", ("password", "refresh_token")),
    Client("spa", "spa-secret", ("password",)),
    Client("svc", "svc-secret", ("client_credentials",)),
)}


@dataclass
class Token(TokenMixin):
    client_id: str
    user: str | None
    scope: str
    access_token: str
    refresh_token: str | None
    expires_in: int
    issued_at: float = field(default_factory=time.time)
    revoked: bool = False

    def check_client(self, client):
        return client.get_client_id() == self.client_id

    def get_scope(self):
        return self.scope

    def get_expires_in(self):
        return self.expires_in

    def is_expired(self):
        return time.time() >= self.issued_at + self.expires_in

    def is_revoked(self):
        return self.revoked

    def get_user(self):
        return self.user

    def get_client(self):
        return CLIENTS[self.client_id]


class Store:
    def __init__(self):
        self.tokens: list[Token] = []
        self.lock = threading.Lock()

    def save(self, token: dict, request) -> None:
        with self.lock:
            self.tokens.append(Token(request.client.client_id, request.user, token.get("scope", ""),
                                     token["access_token"], token.get("refresh_token"),
                                     token["expires_in"]))

    def find(self, **value) -> Token | None:
        [(name, wanted)] = value.items()
        with self.lock:
            return next((t for t in self.tokens if getattr(t, name) == wanted), None)


def authorization_server(store: Store) -> Flask:
    app = Flask("authorization-server")
    app.config.update(OAUTH2_REFRESH_TOKEN_GENERATOR=True, OAUTH2_SCOPES_SUPPORTED=[
        "orders", "profile"], OAUTH2_TOKEN_EXPIRES_IN={
        "password": LIFETIME, "refresh_token": LIFETIME, "client_credentials": LIFETIME})
    server = AuthorizationServer(app, query_client=CLIENTS.get, save_token=store.save)

    class Password(grants.ResourceOwnerPasswordCredentialsGrant):
        TOKEN_ENDPOINT_AUTH_METHODS = AUTH

        def authenticate_user(self, username, password):
            return username if password == f"{username}-pw" else None

        def generate_token(self, **kwargs):  # a refresh token only where the client may use it
            kwargs["include_refresh_token"] = self.request.client.check_grant_type("refresh_token")
            return super().generate_token(**kwargs)

    class Refresh(grants.RefreshTokenGrant):
        TOKEN_ENDPOINT_AUTH_METHODS = AUTH
        INCLUDE_NEW_REFRESH_TOKEN = True  # rotation: each refresh token works once

        def authenticate_refresh_token(self, refresh_token):
            token = store.find(refresh_token=refresh_token)
            return token if token is not None and not token.revoked else None

        def authenticate_user(self, token):
            return token.user

        def revoke_old_credential(self, token):
            token.revoked = True

    class ClientCredentials(grants.ClientCredentialsGrant):
        TOKEN_ENDPOINT_AUTH_METHODS = AUTH

    class Revocation(RevocationEndpoint):
        CLIENT_AUTH_METHODS = AUTH

        def query_token(self, token_string, token_type_hint):
            return store.find(refresh_token=token_string) or store.find(access_token=token_string)

        def revoke_token(self, token, request):
            token.revoked = True

    for grant in (Password, Refresh, ClientCredentials):
        server.register_grant(grant)
    server.register_endpoint(Revocation)
    app.add_url_rule("/oauth/token", "token", server.create_token_response, methods=["POST"])
    app.add_url_rule("/oauth/revoke", "revoke",
                     lambda: server.create_endpoint_response("revocation"), methods=["POST"])
    return app


def resource_server(store: Store) -> Flask:
    app = Flask("resource-server")
    require = ResourceProtector()

    class Validator(BearerTokenValidator):
        def authenticate_token(self, token_string):
            return store.find(access_token=token_string)

    require.register_token_validator(Validator())

    @app.get("/v1/orders")
    @require("orders")
    def orders():
        return {"orders": []}

    return app


# ---- the client ---------------------------------------------------------------------------------

class App:
    """The client under test: every call goes through the proxy; ``flows`` names each call."""

    def __init__(self, proxy_url: str, issuer: str, api: str):
        self.http = httpx.Client(proxy=proxy_url, trust_env=False, timeout=10)
        self.issuer, self.api = issuer, api
        self.calls: list[str] = []

    def token(self, name: str, client: str = "app", **form) -> httpx.Response:
        secret = CLIENTS[client].secret if client in CLIENTS else "nope"
        self.calls.append(name)
        return self.http.post(self.issuer + "/oauth/token",
                              data={"client_id": client, "client_secret": secret, **form})

    def login(self, name: str, client: str = "app", **form) -> dict:
        r = self.token(name, client, grant_type="password", username="ana", password="ana-pw",
                       scope="orders", **form)
        assert r.status_code == 200, r.text
        return r.json()

    def refresh(self, name: str, refresh_token: str, client: str = "app") -> httpx.Response:
        return self.token(name, client, grant_type="refresh_token", refresh_token=refresh_token)

    def get(self, name: str, access_token: str) -> int:
        self.calls.append(name)
        return self.http.get(self.api + "/v1/orders",
                             headers={"Authorization": f"Bearer {access_token}"}).status_code

    def revoke(self, name: str, token: str) -> int:
        self.calls.append(name)
        return self.http.post(self.issuer + "/oauth/revoke", data={
            "token": token, "token_type_hint": "refresh_token", "client_id": "app",
            "client_secret": "app-secret"}).status_code


def wait_out(token: dict) -> None:
    time.sleep(token["expires_in"] + 0.4)


def test_token_lifecycle_through_mitmdump(serve, mitmdump, tmp_path):
    store = Store()
    issuer, api = serve(authorization_server(store)), serve(resource_server(store))
    proxy = mitmdump(options={"authlens_output": "rich"})
    app = App(proxy.proxy_url, issuer, api)

    first = app.login("login")
    assert first["expires_in"] == LIFETIME and "refresh_token" in first
    assert app.get("use-1", first["access_token"]) == 200
    wait_out(first)
    assert app.get("expired-1", first["access_token"]) == 401
    second = app.refresh("refresh-1", first["refresh_token"]).json()
    assert app.get("use-2", second["access_token"]) == 200
    assert app.get("stale", first["access_token"]) == 401
    wait_out(second)
    assert app.get("expired-2", second["access_token"]) == 401
    third = app.refresh("refresh-2", second["refresh_token"]).json()
    wait_out(third)
    assert app.get("expired-3", third["access_token"]) == 401
    assert app.refresh("rotated", first["refresh_token"]).status_code == 400
    assert app.revoke("revoke", third["refresh_token"]) == 200
    assert app.refresh("revoked", third["refresh_token"]).status_code == 400
    fourth = app.login("login-2")
    assert app.refresh("other-client", fourth["refresh_token"], client="app-b").status_code == 400
    assert app.token("wrong-secret", "svc", grant_type="client_credentials",
                     client_secret="svc-secret-id").status_code == 401
    assert "refresh_token" not in app.login("spa-login", client="spa")
    assert app.refresh("spa-refresh", "whatever", client="spa").status_code == 400
    assert app.token("bad-scope", grant_type="password", username="ana", password="ana-pw",
                     scope="admin").status_code == 400
    assert app.token("no-password", grant_type="password", username="ana").status_code == 400

    summary = proxy.stop()
    assert "Could not load command" not in summary and "internal error" not in summary
    flows = dict(zip(app.calls, proxy.read_flows(), strict=True))
    assert [f.request.path.split("?")[0] for f in flows.values()][:2] == ["/oauth/token",
                                                                          "/v1/orders"]

    def meta(name):
        return flows[name].metadata.get("authlens") or {}

    def ids(name):
        return [f["id"] for f in meta(name).get("findings", [])]

    def finding(name, finding_id):
        [found] = [f for f in meta(name)["findings"] if f["id"] == finding_id]
        return found

    def links(name):
        return {(link["relation"], link["flow"]) for link in meta(name).get("links", [])}

    def cause(name):
        return meta(name).get("verdict"), meta(name).get("cause")

    endpoint = issuer.removeprefix("http://") + "/oauth/token"
    login_time = time.strftime("%H:%M:%S", time.gmtime(flows["login"].response.timestamp_start))

    # healthy traffic stays quiet
    for name in ("login", "use-1", "use-2", "refresh-1", "refresh-2", "login-2"):
        assert meta(name).get("verdict") is None, (name, meta(name))

    # expiry: the 401 links back to the login that issued the token, in metadata and comment
    assert cause("expired-1") == ("authentication", "token-expired")
    assert f"expires_in {LIFETIME} s" in finding("expired-1", "token-expired")["message"]
    assert ("issued-by", flows["login"].id) in links("expired-1")
    assert f"issued by POST {endpoint} at {login_time}" in flows["expired-1"].comment
    assert f"lifetime {LIFETIME} s, expired" in flows["expired-1"].comment
    assert "password grant, client app" in finding("expired-1", "token-origin")["message"]
    assert "challenge-invalid-token" in ids("expired-1")

    # the refresh worked, the client kept sending the old token
    assert cause("stale") == ("authentication", "token-stale")
    assert links("stale") >= {("issued-by", flows["login"].id),
                              ("replaced-by", flows["refresh-1"].id)}
    assert "still sent the old token" in flows["stale"].comment

    # three tokens rejected at the same age: the lifetime
    assert "token-lifetime-pattern" not in ids("expired-2")
    pattern = finding("expired-3", "token-lifetime-pattern")
    assert "3 different tokens" in pattern["message"] and "after issue; refresh before" in \
        pattern["message"]
    assert LIFETIME <= pattern["evidence"]["typical_age_s"] < LIFETIME + 2
    assert ("issued-by", flows["refresh-2"].id) in links("expired-3")

    # refresh tokens: rotated one reused, revoked one, one sent by another client
    assert cause("rotated") == ("authentication", "refresh-token-reused")  # both flows named
    assert "oauth-invalid-grant" in ids("rotated")
    assert ("redeemed-by", flows["refresh-1"].id) in {
        (link["relation"], link["flow"]) for link in finding("rotated", "refresh-token-reused")[
            "links"]}
    assert "already redeemed" in finding("rotated", "token-origin")["message"]
    assert ("redeemed-by", flows["refresh-1"].id) in links("rotated")
    assert cause("revoked") == ("authentication", "oauth-invalid-grant")
    assert "was revoked at" in finding("revoked", "token-origin")["message"]
    assert ("revoked-by", flows["revoke"].id) in links("revoked")
    assert cause("other-client") == ("authentication", "oauth-client-mismatch")
    assert "client_id 'app-b' instead of 'app'" in \
        finding("other-client", "oauth-client-mismatch")["message"]
    assert ("issued-by", flows["login-2"].id) in links("other-client")
    assert "oauth-invalid-grant" in ids("other-client")

    # the token endpoint's other errors, each with where the fix lives
    assert cause("wrong-secret") == ("authentication", "oauth-invalid-client")
    assert "App registration / client config" in flows["wrong-secret"].comment
    assert cause("spa-refresh") == ("authorization", "oauth-unauthorized-client")
    assert cause("bad-scope") == ("authorization", "oauth-invalid-scope")
    assert cause("no-password")[1] == "oauth-invalid-request"
    assert "oauth-no-refresh-token" in ids("spa-login")
    assert "oauth-no-refresh-token" not in ids("login")

    # the exit summary tells each client's story
    assert "token timelines" in summary
    story = summary[summary.index("token timelines"):]
    assert "client app @127.0.0.1" in story and "refreshed" in story
    assert "refresh_token grant: invalid_grant" in story and "issued" in story

    # the saved session read back offline (mitmdump -nr) tells the same story
    replayed = Mitmdump(tmp_path, options={"authlens_output": "off"})
    replayed.replay(proxy.flow_file)
    again = replayed.read_flows()
    assert [(f.metadata.get("authlens") or {}).get("cause") for f in again] == \
        [meta(name).get("cause") for name in flows]
    assert [f.comment for f in again] == [f.comment for f in flows.values()]
