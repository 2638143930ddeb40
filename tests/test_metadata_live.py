"""Token requests checked against the authorization server metadata that passed through a real
mitmdump: Authlib's Flask AuthorizationServer (authorization code with PKCE S256 only,
client_credentials, client_secret_basic only, the token endpoint at /oauth2/token) publishing its
RFC 8414 metadata, and an httpx client that reads it and then makes each mistake: a grant the
server does not list, the secret in the form, a guessed /token, PKCE plain. Each refusal is named
``oauth-metadata-mismatch`` with the field; the healthy calls say nothing; -nr agrees."""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import ClientMixin, grants
from authlib.oauth2.rfc7636 import CodeChallenge
from flask import Flask, jsonify, request
from harness import Mitmdump

REDIRECT = "http://127.0.0.1:3030/callback"
"""Never served: the client reads the code from the authorization server's 302."""
STEP = "X-Test-Step"
AUTH = ["client_secret_basic"]


@dataclass
class Client(ClientMixin):
    client_id: str = "app"
    secret: str = "app-secret"

    def get_client_id(self):
        return self.client_id

    def get_default_redirect_uri(self):
        return REDIRECT

    def get_allowed_scope(self, scope):
        return " ".join(s for s in (scope or "").split() if s in ("orders", "profile"))

    def check_redirect_uri(self, redirect_uri):
        return redirect_uri == REDIRECT

    def check_client_secret(self, client_secret):
        return secrets.compare_digest(self.secret, client_secret)

    def check_endpoint_auth_method(self, method, endpoint):
        return method in AUTH

    def check_response_type(self, response_type):
        return response_type == "code"

    def check_grant_type(self, grant_type):
        return grant_type in ("authorization_code", "client_credentials")


@dataclass
class Code:
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    code_challenge: str | None
    code_challenge_method: str | None

    def get_redirect_uri(self):
        return self.redirect_uri

    def get_scope(self):
        return self.scope

    def get_auth_time(self):
        return None

    def get_nonce(self):
        return None


def authorization_server() -> Flask:
    app = Flask("metadata-authorization-server")
    codes: dict[str, Code] = {}
    client = Client()
    server = AuthorizationServer(app, query_client=lambda cid: client if cid == "app" else None,
                                 save_token=lambda token, req: None)

    class S256Only(CodeChallenge):
        SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    class AuthorizationCode(grants.AuthorizationCodeGrant):
        TOKEN_ENDPOINT_AUTH_METHODS = AUTH

        def save_authorization_code(self, code, req):
            codes[code] = Code(code, req.client.client_id, req.payload.redirect_uri,
                               req.payload.scope, req.payload.data.get("code_challenge"),
                               req.payload.data.get("code_challenge_method"))

        def query_authorization_code(self, code, client):
            return codes.get(code)

        def delete_authorization_code(self, authorization_code):
            codes.pop(authorization_code.code, None)

        def authenticate_user(self, authorization_code):
            return "ana"

    class ClientCredentials(grants.ClientCredentialsGrant):
        TOKEN_ENDPOINT_AUTH_METHODS = AUTH

    server.register_grant(AuthorizationCode, [S256Only(required=True)])
    server.register_grant(ClientCredentials)

    @app.get("/.well-known/oauth-authorization-server")
    def metadata():
        base = request.host_url.rstrip("/")
        return jsonify({
            "issuer": base, "authorization_endpoint": base + "/oauth2/authorize",
            "token_endpoint": base + "/oauth2/token", "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code", "client_credentials"],
            "token_endpoint_auth_methods_supported": AUTH,
            "code_challenge_methods_supported": ["S256"]})

    @app.get("/oauth2/authorize")
    def authorize():
        return server.create_authorization_response(grant_user="ana")

    app.add_url_rule("/oauth2/token", "token", server.create_token_response, methods=["POST"])
    return app


class App:
    """The client under test: reads the metadata, then signs in its own way."""

    def __init__(self, proxy: str, issuer: str):
        self.http = httpx.Client(proxy=proxy, trust_env=False, timeout=10)
        self.issuer = issuer
        self.basic = "Basic " + base64.b64encode(b"app:app-secret").decode()

    def discover(self) -> dict:
        r = self.http.get(self.issuer + "/.well-known/oauth-authorization-server",
                          headers={STEP: "discover"})
        assert r.status_code == 200
        return r.json()

    def token(self, step: str, form: dict, url: str | None = None, basic: bool = True):
        headers = {STEP: step, **({"Authorization": self.basic} if basic else {})}
        return self.http.post(url or self.issuer + "/oauth2/token", data=form, headers=headers)

    def authorize(self, step: str, method: str) -> httpx.Response:
        verifier = secrets.token_urlsafe(48)
        challenge = verifier if method == "plain" else base64.urlsafe_b64encode(
            hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        self.verifier = verifier
        return self.http.get(self.issuer + "/oauth2/authorize?" + urlencode({
            "response_type": "code", "client_id": "app", "redirect_uri": REDIRECT,
            "scope": "orders", "state": "s1", "code_challenge": challenge,
            "code_challenge_method": method}), headers={STEP: step})


@pytest.mark.filterwarnings("ignore:The 'grant' parameter will become mandatory")
def test_token_requests_checked_against_the_metadata(serve, tmp_path):
    issuer = serve(authorization_server())
    with Mitmdump(tmp_path, options={"authlens_output": "rich"}) as proxy:
        app = App(proxy.proxy_url, issuer)
        metadata = app.discover()
        assert metadata["token_endpoint"] == issuer + "/oauth2/token"
        code = app.authorize("healthy", "S256")
        assert code.status_code == 302, code.text
        found = parse_qs(urlsplit(code.headers["location"]).query)["code"][0]
        healthy = app.token("healthy", {"grant_type": "authorization_code", "code": found,
                                        "redirect_uri": REDIRECT,
                                        "code_verifier": app.verifier})
        assert healthy.status_code == 200, healthy.text
        assert app.token("healthy", {"grant_type": "client_credentials"}).status_code == 200
        grant = app.token("grant", {"grant_type": "password", "username": "ana",
                                    "password": "pw"})
        assert (grant.status_code, grant.json()["error"]) == (400, "unsupported_grant_type")
        post = app.token("post", {"grant_type": "client_credentials", "client_id": "app",
                                  "client_secret": "app-secret"}, basic=False)
        assert (post.status_code, post.json()["error"]) == (401, "invalid_client")
        guessed = app.token("guessed", {"grant_type": "client_credentials"},
                            url=issuer + "/token")
        assert guessed.status_code == 404
        plain = app.authorize("plain", "plain")
        assert plain.status_code in (302, 400), plain.text
        assert "error=invalid_request" in plain.headers.get("location", "") or \
            plain.status_code == 400
    assert "internal error" not in proxy.output()
    flows = proxy.read_flows()

    def step(name):
        return [f for f in flows if f.request.headers.get(STEP) == name]

    def meta(flow):
        return flow.metadata.get("authlens") or {}

    def cause(flow):
        return meta(flow).get("verdict"), meta(flow).get("cause")

    def field(flow):
        cause_id = meta(flow).get("cause")
        finding = next(f for f in meta(flow)["findings"] if f["id"] == cause_id)
        return finding["evidence"]["field"]

    [discovered] = step("discover")
    for flow in step("healthy"):
        assert cause(flow) == (None, None), (flow.request.url, meta(flow))
        assert "oauth-metadata-mismatch" not in flow.comment

    cases = {"grant": "grant_types_supported", "post": "token_endpoint_auth_methods_supported",
             "guessed": "token_endpoint", "plain": "code_challenge_methods_supported"}
    for name, expected in cases.items():
        [flow] = step(name)
        assert cause(flow) == ("authentication", "oauth-metadata-mismatch"), (name, meta(flow))
        assert field(flow) == expected
        assert discovered.id in {link["flow"] for link in meta(flow)["links"]}
    [guessed_flow] = step("guessed")
    assert f"token_endpoint is '{issuer}/oauth2/token'" in guessed_flow.comment
    [post_flow] = step("post")
    assert "client_secret_post" in post_flow.comment and "['client_secret_basic']" in \
        post_flow.comment

    replayed = Mitmdump(tmp_path, options={"authlens_output": "off"})
    replayed.replay(proxy.flow_file)
    assert [meta(f).get("cause") for f in replayed.read_flows()] == [
        meta(f).get("cause") for f in flows]
