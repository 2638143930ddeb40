"""DPoP (RFC 9449) through a real mitmdump: a Flask resource server that verifies each proof
(signature with its ``jwk``, ``htm``, ``htu``, ``ath``, ``iat``, and a server nonce), and an httpx
client with an EC key. A healthy nonce round trip stays quiet after the server's first
``use_dpop_nonce``; a proof signed for the URL with its query (``dpop-proof-mismatch``) and a
client that retries without the offered nonce (``dpop-nonce-loop``) are named by cause."""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from flask import Flask, request
from jwt.algorithms import ECAlgorithm

TOKEN = "at-" + "7" * 40
NONCE = "n-" + uuid.uuid4().hex
STEP = "X-Test-Step"


def ath(token: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(token.encode()).digest()).rstrip(b"=").decode()


def resource_server() -> Flask:
    app = Flask("dpop-resource-server")

    def refuse(error: str, description: str):
        headers = {"WWW-Authenticate": f'DPoP error="{error}", '
                                       f'error_description="{description}"',
                   "DPoP-Nonce": NONCE}
        return {"error": error}, 401, headers

    @app.get("/v1/notes")
    def notes():
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        proof = request.headers.get("DPoP", "")
        if scheme != "DPoP" or token != TOKEN or not proof:
            return refuse("invalid_token", "DPoP-bound token required")
        try:
            header = jwt.get_unverified_header(proof)
            key = jwt.PyJWK(header["jwk"], "ES256").key
            claims = jwt.decode(proof, key, algorithms=["ES256"])
        except (jwt.PyJWTError, KeyError) as e:
            return refuse("invalid_dpop_proof", f"bad proof: {e}")
        if (claims.get("htm") != request.method or claims.get("htu") != request.base_url
                or claims.get("ath") != ath(token) or abs(claims["iat"] - time.time()) > 60):
            return refuse("invalid_dpop_proof", "proof does not match the request")
        if claims.get("nonce") != NONCE:
            return refuse("use_dpop_nonce", "Resource server requires nonce in DPoP proof")
        return {"notes": ["buy milk"]}

    return app


class Client:
    def __init__(self, proxy: str):
        self.http = httpx.Client(proxy=proxy, trust_env=False, timeout=10)
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.nonce: str | None = None

    def proof(self, method: str, htu: str) -> str:
        claims = {"htm": method, "htu": htu, "iat": int(time.time()), "jti": uuid.uuid4().hex,
                  "ath": ath(TOKEN)}
        if self.nonce:
            claims["nonce"] = self.nonce
        jwk = json.loads(ECAlgorithm.to_jwk(self.key.public_key()))
        return jwt.encode(claims, self.key, algorithm="ES256",
                          headers={"typ": "dpop+jwt", "jwk": jwk})

    def get(self, url: str, step: str, htu: str | None = None) -> httpx.Response:
        return self.http.get(url, headers={"Authorization": f"DPoP {TOKEN}", STEP: step,
                                           "DPoP": self.proof("GET", htu or url)})


def test_dpop_through_mitmdump(serve, mitmdump):
    api = serve(resource_server()) + "/v1/notes"
    proxy = mitmdump(options={"authlens_output": "rich"})

    healthy = Client(proxy.proxy_url)  # learns the nonce from the first answer, as it should
    assert healthy.get(api, "healthy").status_code == 401
    healthy.nonce = NONCE
    assert healthy.get(api, "healthy").status_code == 200

    with_query = Client(proxy.proxy_url)  # signs the URL with its query string
    with_query.nonce = NONCE
    assert with_query.get(api + "?page=2", "query", htu=api + "?page=2").status_code == 401

    deaf = Client(proxy.proxy_url)  # never reads DPoP-Nonce
    assert deaf.get(api, "deaf").status_code == 401
    assert deaf.get(api, "deaf").status_code == 401

    proxy.stop()
    flows = proxy.read_flows()

    def step(name):
        return [f for f in flows if f.request.headers.get(STEP) == name]

    def cause(flow):
        meta = flow.metadata.get("authlens") or {}
        return meta.get("verdict"), meta.get("cause")

    first, second = step("healthy")
    assert cause(first) == ("authentication", "challenge-dpop-nonce")  # the normal first round
    assert cause(second) == (None, None) and not second.comment

    [query] = step("query")
    assert cause(query) == ("authentication", "dpop-proof-mismatch")
    assert "htu carries no query or fragment" in query.comment

    asked, looping = step("deaf")
    assert cause(asked) == ("authentication", "challenge-dpop-nonce")
    assert cause(looping) == ("authentication", "dpop-nonce-loop")
    assert "carries no nonce" in looping.comment
    assert asked.id in {link["flow"] for link in looping.metadata["authlens"]["links"]}
