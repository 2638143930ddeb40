"""An MCP sign-in through a real mitmdump: the official MCP Python SDK's server (MCPServer with a
JWT TokenVerifier and protected resource metadata), the SDK's authorization server handlers
(``create_auth_routes``: metadata, dynamic registration, authorize, token) over an in-memory
provider that issues JWTs with ``aud`` = the RFC 8707 resource, and the SDK's client
(``OAuthClientProvider`` over httpx2), all on loopback under uvicorn. The SDK client signs in
healthily (no alarm on its discovery 401), ignores the challenge when OAuth is off, and meets a
server whose metadata is hidden or names another resource; the mistakes the SDK client cannot make
(no ``resource``, an unknown resource, a scope too few) are driven with httpx against the same
servers. Every cause is read from the flows mitmdump wrote.

The SDK installs only beside mitmproxy 12 (its httpx2 needs h11 >= 0.16; mitmproxy 11 pins
h11 0.14), so on the mitmproxy 11 generation this module is skipped.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import secrets
import threading
import time
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import jwt
import pytest
from harness import free_port

pytest.importorskip("mcp", reason="the MCP Python SDK needs h11 >= 0.16: mitmproxy 12 generation")

import httpx2  # noqa: E402
import uvicorn  # noqa: E402
from mcp import Client  # noqa: E402
from mcp.client.auth import OAuthClientProvider  # noqa: E402
from mcp.client.streamable_http import streamable_http_client  # noqa: E402
from mcp.server.auth.provider import (  # noqa: E402
    AccessToken,
    AuthorizationCode,
    RefreshToken,
    TokenError,
    construct_redirect_uri,
)
from mcp.server.auth.routes import build_metadata, create_auth_routes  # noqa: E402
from mcp.server.auth.settings import (  # noqa: E402
    AuthSettings,
    ClientRegistrationOptions,
    RevocationOptions,
)
from mcp.server.mcpserver import MCPServer  # noqa: E402
from mcp.shared.auth import (  # noqa: E402
    AuthorizationCodeResult,
    OAuthClientMetadata,
    OAuthToken,
)
from pydantic import AnyHttpUrl  # noqa: E402
from starlette.applications import Starlette  # noqa: E402
from starlette.responses import JSONResponse, PlainTextResponse  # noqa: E402
from starlette.routing import Route  # noqa: E402

SCOPES = ["notes:read", "notes:write"]
STEP = "X-Test-Step"
"""Every request of a test step carries the step's name: the assertions pick flows by it."""
REDIRECT = "http://127.0.0.1:3030/callback"
"""Never served: the redirect handlers read the code from the authorization server's 302."""


# ---- servers on loopback (uvicorn in a thread) --------------------------------------------------

class Served:
    """An ASGI app under uvicorn on 127.0.0.1:``port``, in a daemon thread."""

    def __init__(self, app, port: int):
        self.url = f"http://127.0.0.1:{port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                                    log_level="warning", lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


class Keys:
    """The authorization server's RS256 signing keys; ``rotate`` starts signing with a new one
    (and publishes both)."""

    def __init__(self):
        self.published: list = []
        self.rotate()

    def rotate(self) -> None:
        from cryptography.hazmat.primitives.asymmetric import rsa
        kid = f"k{len(self.published) + 1}"
        self.current = (kid, rsa.generate_private_key(public_exponent=65537, key_size=2048))
        self.published.append(self.current)

    def jwks(self) -> dict:
        import json

        from jwt.algorithms import RSAAlgorithm
        return {"keys": [{**json.loads(RSAAlgorithm.to_jwk(key.public_key())), "kid": kid,
                          "use": "sig", "alg": "RS256"} for kid, key in self.published]}


class Provider:
    """The authorization server's storage: auto-approves, issues RS256 JWTs bound to the
    requested resource (``aud``; the issuer itself when none was asked for)."""

    def __init__(self, issuer: str, resources: set[str], keys: Keys):
        self.issuer, self.resources, self.keys = issuer, resources, keys
        self.clock = 0
        """Seconds this server's clock is ahead."""
        self.clients: dict = {}
        self.codes: dict[str, AuthorizationCode] = {}
        self.refresh: dict[str, RefreshToken] = {}

    async def get_client(self, client_id):
        return self.clients.get(client_id)

    async def register_client(self, client_info):
        self.clients[client_info.client_id] = client_info

    async def authorize(self, client, params):
        code = secrets.token_urlsafe(16)
        self.codes[code] = AuthorizationCode(
            code=code, scopes=params.scopes or [], expires_at=time.time() + 300,
            client_id=client.client_id, code_challenge=params.code_challenge,
            redirect_uri=params.redirect_uri,
            redirect_uri_provided_explicitly=params.redirect_uri_provided_explicitly,
            resource=params.resource)
        return construct_redirect_uri(str(params.redirect_uri), code=code, state=params.state)

    async def load_authorization_code(self, client, authorization_code):
        return self.codes.get(authorization_code)

    async def exchange_authorization_code(self, client, authorization_code):
        self.codes.pop(authorization_code.code, None)
        return self._issue(client.client_id, authorization_code.scopes,
                           authorization_code.resource)

    async def load_refresh_token(self, client, refresh_token):
        return self.refresh.get(refresh_token)

    async def exchange_refresh_token(self, client, refresh_token, scopes):
        self.refresh.pop(refresh_token.token, None)
        return self._issue(client.client_id, scopes or refresh_token.scopes,
                           refresh_token.resource)

    async def load_access_token(self, token):
        return None  # only revocation asks; this test revokes nothing

    async def revoke_token(self, token):
        self.refresh.pop(getattr(token, "token", ""), None)

    def _issue(self, client_id: str, scopes: list[str], resource: str | None) -> OAuthToken:
        if resource and resource.rstrip("/") not in self.resources:
            raise TokenError("invalid_target", f"unknown resource {resource}")
        now, (kid, key) = int(time.time()) + self.clock, self.keys.current
        access = jwt.encode({"iss": self.issuer, "sub": "ana", "aud": resource or self.issuer,
                             "client_id": client_id, "scope": " ".join(scopes), "iat": now,
                             "nbf": now, "exp": now + 3600}, key, algorithm="RS256", headers={"kid": kid})
        refresh = secrets.token_urlsafe(24)
        self.refresh[refresh] = RefreshToken(token=refresh, client_id=client_id, scopes=scopes,
                                             resource=resource)
        return OAuthToken(access_token=access, token_type="Bearer", expires_in=3600,
                          scope=" ".join(scopes), refresh_token=refresh)


class Verifier:
    """The resource server's token check: the issuer's JWKS, fetched once through ``proxy`` (a
    resource server behind an egress proxy) and cached, never re-fetched (the rotation bug)."""

    def __init__(self, jwks_url: str):
        self.jwks_url, self.proxy, self.keys = jwks_url, "", None

    async def verify_token(self, token: str) -> AccessToken | None:
        if self.keys is None:
            async with httpx.AsyncClient(proxy=self.proxy, trust_env=False, headers={
                    "User-Agent": "notes-resource-server"}) as http:
                self.keys = jwt.PyJWKSet.from_dict((await http.get(self.jwks_url)).json())
        try:
            kid = jwt.get_unverified_header(token).get("kid")
            key = next(k for k in self.keys.keys if k.key_id == kid)
            claims = jwt.decode(token, key.key, algorithms=["RS256"],
                                options={"verify_aud": False})
        except (StopIteration, jwt.PyJWTError):
            return None
        return AccessToken(token=token, client_id=claims["client_id"],
                           scopes=claims["scope"].split(), expires_at=claims["exp"],
                           resource=claims["aud"], subject=claims["sub"])


def authorization_server(port: int, provider: Provider, keys: Keys) -> Starlette:
    """The SDK's handlers, with the metadata served here to add ``jwks_uri`` (the SDK's model
    has none) and the JWKS itself."""
    issuer = f"http://127.0.0.1:{port}/"  # AnyHttpUrl writes the root path: say it everywhere
    registration = ClientRegistrationOptions(enabled=True, valid_scopes=SCOPES)
    metadata = {**build_metadata(AnyHttpUrl(issuer), None, registration, RevocationOptions())
                .model_dump(mode="json", exclude_none=True), "jwks_uri": issuer + "jwks"}
    routes = [Route("/.well-known/oauth-authorization-server",
                    lambda request: JSONResponse(metadata)),
              Route("/jwks", lambda request: JSONResponse(keys.jwks())),
              *create_auth_routes(provider, AnyHttpUrl(issuer),
                                  client_registration_options=registration)]
    return Starlette(routes=routes)


def mcp_server(issuer: str, resource: str, verifier: Verifier):
    """The SDK's MCP server: one tool, ``notes:read`` required, tokens bound to ``resource``."""
    server = MCPServer("notes", token_verifier=verifier, auth=AuthSettings(
        issuer_url=issuer, resource_server_url=resource, required_scopes=["notes:read"],
        validate_token_resource=True))

    @server.tool()
    def list_notes() -> str:
        return "buy milk"

    return server.streamable_http_app()


def hide_well_known(app):
    """A front that does not pass /.well-known/ on (a reverse proxy routing only /mcp)."""
    async def front(scope, receive, send):
        if scope["type"] == "http" and scope["path"].startswith("/.well-known/"):
            await PlainTextResponse("Not Found", status_code=404)(scope, receive, send)
            return
        await app(scope, receive, send)
    return front


# ---- clients ------------------------------------------------------------------------------------

class Memory:
    """TokenStorage in memory."""

    def __init__(self):
        self.tokens = self.client = None

    async def get_tokens(self):
        return self.tokens

    async def set_tokens(self, tokens):
        self.tokens = tokens

    async def get_client_info(self):
        return self.client

    async def set_client_info(self, client_info):
        self.client = client_info


def sdk_call(proxy: str, url: str, step: str, oauth: bool = True) -> str:
    """Connect with the SDK client through ``proxy`` and call the tool; the error text if it
    failed. The browser step is an httpx2 GET of the authorization URL (auto-approved)."""
    answer: dict = {}

    async def redirect_handler(authorization_url: str) -> None:
        async with httpx2.AsyncClient(proxy=proxy, trust_env=False,
                                      headers={STEP: step}) as browser:
            location = (await browser.get(authorization_url)).headers["location"]
        query = parse_qs(urlsplit(location).query)
        answer.update(code=query["code"][0], state=query.get("state", [None])[0])

    async def callback_handler() -> AuthorizationCodeResult:
        return AuthorizationCodeResult(**answer)

    async def main() -> str:
        auth = OAuthClientProvider(url, OAuthClientMetadata(
            client_name="notes-cli", redirect_uris=[REDIRECT],
            grant_types=["authorization_code", "refresh_token"]), Memory(),
            redirect_handler, callback_handler) if oauth else None
        async with httpx2.AsyncClient(proxy=proxy, trust_env=False, auth=auth, timeout=20,
                                      headers={STEP: step}) as http:
            async with Client(streamable_http_client(url, http_client=http)) as client:
                result = await client.call_tool("list_notes", {})
                return result.content[0].text

    outcome: dict = {}

    def run() -> None:
        try:
            outcome["result"] = asyncio.run(asyncio.wait_for(main(), 60))
        except BaseException as e:  # noqa: BLE001 - the SDK raises groups; the test reads it
            outcome["result"] = f"failed: {e!r}"

    # its own thread and loop: a session fixture (Playwright's sync API) may hold this one's
    worker = threading.Thread(target=run)
    worker.start()
    worker.join(90)
    return outcome.get("result", "failed: no answer in 90 s")


class Hand:
    """A hand-rolled OAuth client (httpx) that follows discovery but builds its own requests."""

    def __init__(self, proxy: str, issuer: str, step: str):
        self.http = httpx.Client(proxy=proxy, trust_env=False, timeout=10, headers={STEP: step})
        self.issuer = issuer.rstrip("/")

    def discover(self, mcp_url: str) -> None:
        r = self.http.post(mcp_url, json={"jsonrpc": "2.0", "id": 1, "method": "server/discover"})
        assert r.status_code == 401
        metadata = r.headers["www-authenticate"].split('resource_metadata="')[1].split('"')[0]
        assert self.http.get(metadata).status_code == 200
        assert self.http.get(self.issuer + "/.well-known/oauth-authorization-server"
                             ).status_code == 200

    def sign_in(self, scope: str, resource: str | None) -> httpx.Response:
        client = self.http.post(self.issuer + "/register", json={
            "redirect_uris": [REDIRECT], "client_name": "hand", "scope": " ".join(SCOPES),
            "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "refresh_token"]}).json()
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()
                                             ).rstrip(b"=").decode()
        target = {"resource": resource} if resource else {}
        r = self.http.get(self.issuer + "/authorize?" + urlencode({
            "response_type": "code", "client_id": client["client_id"], "redirect_uri": REDIRECT,
            "code_challenge": challenge, "code_challenge_method": "S256", "state": "s1",
            "scope": scope, **target}))
        assert r.status_code == 302, r.text
        code = parse_qs(urlsplit(r.headers["location"]).query)["code"][0]
        self.client_id = client["client_id"]
        return self.http.post(self.issuer + "/token", data={
            "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
            "client_id": client["client_id"], "code_verifier": verifier, **target})

    def refresh(self, refresh_token: str, resource: str) -> httpx.Response:
        return self.http.post(self.issuer + "/token", data={
            "grant_type": "refresh_token", "refresh_token": refresh_token,
            "client_id": self.client_id, "resource": resource})

    def call(self, mcp_url: str, token: str) -> httpx.Response:
        return self.http.post(mcp_url, headers={"Authorization": f"Bearer {token}"},
                              json={"jsonrpc": "2.0", "id": 2, "method": "server/discover"})


# ---- the test -----------------------------------------------------------------------------------

@pytest.fixture
def servers():
    started: list[Served] = []

    def start(app, port: int) -> str:
        started.append(Served(app, port))
        return started[-1].url + "/"

    yield start
    for s in started:
        s.stop()


def test_mcp_sign_in_through_mitmdump(servers, mitmdump, tmp_path):
    as_port, ok_port, hidden_port, other_port, slash_port = (free_port() for _ in range(5))
    ok_mcp, keys = f"http://127.0.0.1:{ok_port}/mcp", Keys()
    provider = Provider(f"http://127.0.0.1:{as_port}/", {ok_mcp}, keys)
    issuer = servers(authorization_server(as_port, provider, keys), as_port)
    verifiers = [Verifier(issuer + "jwks") for _ in range(4)]
    servers(mcp_server(issuer, ok_mcp, verifiers[0]), ok_port)
    hidden_mcp = f"http://127.0.0.1:{hidden_port}/mcp"
    servers(hide_well_known(mcp_server(issuer, hidden_mcp, verifiers[1])), hidden_port)
    other_mcp = f"http://127.0.0.1:{other_port}/mcp"
    servers(mcp_server(issuer, f"http://127.0.0.1:{other_port}/notes", verifiers[2]), other_port)
    slash_mcp = f"http://127.0.0.1:{slash_port}/mcp"  # names the issuer without its "/"
    servers(mcp_server(issuer.rstrip("/"), slash_mcp, verifiers[3]), slash_port)
    proxy = mitmdump(options={"authlens_output": "rich"})
    for verifier in verifiers:
        verifier.proxy = proxy.proxy_url

    assert sdk_call(proxy.proxy_url, ok_mcp, "healthy") == "buy milk"
    assert sdk_call(proxy.proxy_url, ok_mcp, "off", oauth=False).startswith("failed")
    hidden = sdk_call(proxy.proxy_url, hidden_mcp, "hidden")
    assert "Registration failed: 404" in hidden, hidden
    other = sdk_call(proxy.proxy_url, other_mcp, "other")
    assert "does not match expected" in other, other
    slash = sdk_call(proxy.proxy_url, slash_mcp, "slash")
    assert "issuer mismatch" in slash, slash
    hand = Hand(proxy.proxy_url, issuer, "no-resource")
    hand.discover(ok_mcp)
    no_resource = hand.sign_in("notes:read", None)
    assert no_resource.status_code == 200, no_resource.text
    assert hand.call(ok_mcp, no_resource.json()["access_token"]).status_code == 401
    hand = Hand(proxy.proxy_url, issuer, "unknown-resource")
    unknown = hand.sign_in("notes:read", f"http://127.0.0.1:{ok_port}/elsewhere")
    assert unknown.status_code == 400 and unknown.json()["error"] == "invalid_target"
    hand = Hand(proxy.proxy_url, issuer, "write-only")
    write_only = hand.sign_in("notes:write", ok_mcp)
    assert write_only.status_code == 200, write_only.text
    assert hand.call(ok_mcp, write_only.json()["access_token"]).status_code == 403
    hand = Hand(proxy.proxy_url, issuer, "tampered")  # a client that edits its token
    head, payload, signature = hand.sign_in("notes:read", ok_mcp).json()["access_token"].split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["scope"] = "notes:read notes:admin"
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    assert hand.call(ok_mcp, f"{head}.{payload}.{signature}").status_code == 401
    hand = Hand(proxy.proxy_url, issuer, "reuse")  # a client that keeps the first refresh token
    signed_in = hand.sign_in("notes:read", ok_mcp).json()
    assert hand.refresh(signed_in["refresh_token"], ok_mcp).status_code == 200
    reused = hand.refresh(signed_in["refresh_token"], ok_mcp)
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
    keys.rotate()  # the issuer signs with k2 now; the resource server keeps its cached k1
    hand = Hand(proxy.proxy_url, issuer, "rotated")
    rotated = hand.sign_in("notes:read", ok_mcp)
    assert hand.call(ok_mcp, rotated.json()["access_token"]).status_code == 401
    keys.current, provider.clock = keys.published[0], 600  # back on k1; its clock 10 min ahead
    hand = Hand(proxy.proxy_url, issuer, "issuer-clock")
    early = hand.sign_in("notes:read", ok_mcp)
    assert hand.call(ok_mcp, early.json()["access_token"]).status_code == 401

    summary = proxy.stop()
    assert "internal error" not in summary
    flows = proxy.read_flows()
    for f in flows:  # shown when an assertion fails
        print(f.request.headers.get(STEP), f.request.headers.get("user-agent"), f.request.method, f.request.url[:90],
              f.response.status_code, (f.metadata.get("authlens") or {}).get("cause"),
              [x["id"] for x in (f.metadata.get("authlens") or {}).get("findings", [])])

    steps, current = [], None
    for f in flows:  # the SDK sends its OAuth requests without the client's headers
        current = f.request.headers.get(STEP) or current
        steps.append(current)

    def step(name, method=None, path=None, status=None):
        """The flows of step ``name``, narrowed by method, path prefix and status."""
        return [f for f, s in zip(flows, steps, strict=True) if s == name
                and (method is None or f.request.method == method)
                and (path is None or f.request.path.startswith(path))
                and (status is None or f.response.status_code == status)]

    def meta(flow):
        return flow.metadata.get("authlens") or {}

    def ids(flow):
        return [f["id"] for f in meta(flow).get("findings", [])]

    def cause(flow):
        return meta(flow).get("verdict"), meta(flow).get("cause")

    # 1. the healthy sign-in: its discovery 401 is no alarm; nothing else is either
    healthy = step("healthy")
    first = healthy[0]
    assert (first.request.path, first.response.status_code) == ("/mcp", 401)
    assert "authorization" not in first.request.headers
    assert "resource_metadata=" in first.response.headers["www-authenticate"]
    assert [f.request.path.split("?")[0] for f in healthy[1:6]] == [
        "/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-authorization-server",
        "/register", "/authorize", "/token"]
    assert "resource=" in healthy[4].request.path and b"resource=" in healthy[5].request.content
    assert step("healthy", "POST", "/mcp", 200)
    for flow in healthy:
        assert cause(flow) == (None, None) and not flow.comment and not flow.marked, \
            (flow.request.url, meta(flow))

    # 2. OAuth off in the client: its first 401 is the same step; then it calls again without
    # following the challenge
    first, *_, ignored = step("off", "POST", "/mcp", 401)
    assert cause(first) == (None, None)
    assert cause(ignored) == ("authentication", "discovery-not-followed")
    assert "credential-missing" in ids(ignored)  # outranked: the challenge says more
    assert f"GET {ok_mcp.rsplit('/', 1)[0]}/.well-known/oauth-protected-resource/mcp" in \
        ignored.comment

    # 3. a front that does not route /.well-known/: the metadata the challenge names is 404
    named, *fallbacks = step("hidden", "GET", "/.well-known/oauth-protected-resource")
    assert named.response.status_code == 404 and "resource-metadata-missing" in ids(named)
    assert "answered 404" in named.comment and cause(named) == (None, None)
    assert [f.request.path for f in fallbacks][-1] == "/.well-known/oauth-protected-resource"
    assert "resource-metadata-missing" in ids(fallbacks[-1])

    # 4. metadata naming another resource than the URL called (RFC 9728 section 3.3)
    [wrong] = step("other", "GET", "/.well-known/oauth-protected-resource", 200)
    assert "resource-metadata-missing" in ids(wrong) and "another path" in wrong.comment

    # 4b. the authorization server's issuer is not the string the resource metadata names
    [named] = step("slash", "GET", "/.well-known/oauth-authorization-server", 200)
    assert "server-metadata-issuer-mismatch" in ids(named) and cause(named) == (None, None)
    assert "only a trailing slash differs" in named.comment

    # 5. a sign-in without resource: warned at authorize and token; its token refused by aud
    [authorize] = step("no-resource", "GET", "/authorize")
    [token] = step("no-resource", "POST", "/token")
    assert "oauth-resource-missing" in ids(authorize) and cause(authorize) == (None, None)
    assert "oauth-resource-missing" in ids(token)
    [refused] = step("no-resource", "POST", "/mcp", 401)[1:]
    assert cause(step("no-resource", "POST", "/mcp", 401)[0]) == (None, None)  # discovery
    assert cause(refused) == ("authentication", "token-audience-mismatch")
    assert token.id in {link["flow"] for link in meta(refused)["links"]}
    assert "sent no resource" in refused.comment and f"names resource {ok_mcp}" in \
        refused.comment

    # 6. an unknown resource: invalid_target
    [target] = step("unknown-resource", "POST", "/token")
    assert cause(target) == ("unknown", "oauth-invalid-target")

    # 7. a token without the scope the SDK's 403 names in its description
    [forbidden] = step("write-only", "POST", "/mcp", 403)
    assert cause(forbidden) == ("authorization", "token-scope-missing")
    assert "missing notes:read" in forbidden.comment

    # 8. keys from traffic: the JWKS the resource server fetched through the proxy
    [jwks] = [f for f in flows if f.request.path == "/jwks"]
    assert jwks.request.headers["user-agent"] == "notes-resource-server"
    assert steps[flows.index(jwks)] == "healthy" and cause(jwks) == (None, None)
    [edited] = step("tampered", "POST", "/mcp", 401)
    assert cause(edited) == ("authentication", "token-signature-invalid")
    assert jwks.id in {link["flow"] for link in meta(edited)["links"]}
    [unknown_kid] = step("rotated", "POST", "/mcp", 401)
    assert cause(unknown_kid) == ("authentication", "token-kid-unknown")
    assert "'k2'" in unknown_kid.comment and "key ids: k1" in unknown_kid.comment

    # 9. a rotated refresh token redeemed again: both redemptions named
    redeemed, again = step("reuse", "POST", "/token")[1:]
    assert cause(redeemed) == (None, None)
    assert cause(again) == ("authentication", "refresh-token-reused")
    assert redeemed.id in {link["flow"] for link in meta(again)["links"]}
    assert "oauth-invalid-grant" in ids(again) and "got invalid_grant" in again.comment

    # 10. the issuer's clock ahead: the proxy and the server (Date) agree, the token does not
    [skewed] = step("issuer-clock", "POST", "/mcp", 401)
    assert cause(skewed) == ("authentication", "clock-skew")
    assert "token-not-yet-valid" in ids(skewed) and "the issuer" in skewed.comment
    assert "10 min ahead" in skewed.comment

    # the saved session read back offline (mitmdump -nr) tells the same story
    from harness import Mitmdump
    replayed = Mitmdump(tmp_path, options={"authlens_output": "off"})
    replayed.replay(proxy.flow_file)
    again = replayed.read_flows()
    assert [meta(f).get("cause") for f in again] == [meta(f).get("cause") for f in flows]
    assert [f.comment for f in again] == [f.comment for f in flows]
