"""Every record of tests/data/real_auth_failures.json gets the verdict and cause a person reading
its ``expected_diagnosis`` would call right.

The corpus is kept in the repository (tests/data/); a missing corpus is a failure, not a skip.
Fake JWT-looking tokens are replaced by real JWTs minted with pyjwt that fit the record's situation
(expired, wrong audience, otherwise valid).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import jwt
import pytest

from authlens import bodies
from authlens.analyze import Analyzer
from authlens.model import Exchange, RequestView, ResponseView

CORPUS = Path(__file__).resolve().parent / "data" / "real_auth_failures.json"
"""A copy of the CEO's corpus (real 401/403/400 responses with sources); see its README beside it."""

SENT_AT = 1_700_000_000.0  # when every corpus request is "sent"; minted token times are relative
_KEY = "authlens-test-key-not-a-secret-000000"
_FAKE_JWT = re.compile(r"eyJ[A-Za-z0-9_\-]*\.[A-Za-z0-9_\-]*FAKE[A-Za-z0-9_\-]*\.[A-Za-z0-9_\-]+")

AUTHN, AUTHZ, UNKNOWN = "authentication", "authorization", "unknown"

# record id -> (verdict, cause finding id)
EXPECTED = {
    "graph-expired-token-401": (AUTHN, "token-expired"),
    "graph-lifetime-validation-failed-401": (AUTHN, "token-expired"),
    "graph-invalid-audience-401": (AUTHN, "token-audience-mismatch"),
    "graph-authorization-requestdenied-403": (AUTHZ, "token-scope-missing"),
    "graph-cae-insufficient-claims-401": (AUTHN, "challenge-claims-required"),
    "entra-refresh-token-inactive-400": (AUTHN, "oauth-invalid-grant"),
    "entra-invalid-client-secret-401": (AUTHN, "oauth-invalid-client"),
    "sharepoint-invalid-audience-401": (AUTHN, "token-audience-mismatch"),
    "sharepoint-graph-token-sent-to-spo-401": (AUTHN, "token-audience-mismatch"),
    "sharepoint-access-denied-noscript-403": (AUTHZ, "permission-missing"),
    "dataverse-unauthenticated-challenge-401": (AUTHN, "credential-missing"),
    "dataverse-user-not-member-403": (AUTHZ, "permission-missing"),
    "dataverse-missing-privilege-403": (AUTHZ, "permission-missing"),
    "arm-invalid-token-audience-401": (AUTHN, "token-audience-mismatch"),
    "arm-missing-authorization-header-401": (AUTHN, "credential-missing"),
    "arm-malformed-authorization-header-401": (AUTHN, "scheme-missing"),
    "keyvault-challenge-401": (AUTHN, "credential-missing"),
    "github-bad-credentials-401": (AUTHN, "credential-invalid"),
    "github-requires-authentication-401": (AUTHN, "credential-missing"),
    "github-saml-sso-required-403": (AUTHZ, "sso-not-authorized"),
    "github-resource-not-accessible-by-integration-403": (AUTHZ, "permission-missing"),
    "github-private-repo-404-masking": (AUTHZ, "token-scope-missing"),  # names the scope: repo
    "google-invalid-credentials-401": (AUTHN, "credential-invalid"),
    "google-missing-credential-401": (AUTHN, "credential-missing"),
    "google-insufficient-scope-errorinfo-403": (AUTHZ, "token-scope-missing"),
    "google-legacy-insufficient-scope-unquoted-403": (AUTHZ, "challenge-insufficient-scope"),
    # the credential is fine; the project lacks the enabled API: re-authenticating won't help
    "google-service-disabled-403": (AUTHZ, "api-access-not-configured"),
    "google-api-key-invalid-400": (AUTHN, "credential-invalid"),
    "slack-token-in-querystring-200": (AUTHN, "apikey-wrong-place"),
    # The record's situation: "Literal placeholder 'TOKEN' left in the request" (credentials.py).
    "slack-placeholder-token-200": (AUTHN, "credential-placeholder"),
    "slack-missing-scope-200": (AUTHZ, "token-scope-missing"),
    "stripe-invalid-api-key-401": (AUTHN, "credential-invalid"),
    "stripe-no-api-key-401": (AUTHN, "credential-missing"),
    # not an auth problem at all: the route does not exist
    "apigw-missing-authentication-token-wrong-path-403": (UNKNOWN, "route-not-found"),
    "apigw-cognito-authorizer-unauthorized-401": (AUTHN, "token-wrong-type"),
    # the key is valid; the stage's usage plan does not admit it: a new key or re-auth won't help
    "apigw-api-key-no-usage-plan-403": (AUTHZ, "api-access-not-configured"),
    "rfc6750-expired-token-401": (AUTHN, "token-expired"),
    "rfc6750-insufficient-scope-403": (AUTHZ, "challenge-insufficient-scope"),
    # a malformed token request: "not an authentication failure"
    "rfc6749-token-error-invalid-request-400": (UNKNOWN, "oauth-invalid-request"),
    "rfc6749-invalid-client-basic-401": (AUTHN, "oauth-invalid-client"),
    "rfc7617-basic-challenge-401": (AUTHN, "credential-missing"),
    "rfc7617-charset-mismatch-401": (AUTHN, "challenge-charset-mismatch"),
    "rfc9110-forbidden-hidden-as-404": (AUTHZ, "status-hidden-404"),
    "rfc7519-example-jwt-expired-401": (AUTHN, "token-expired"),
}

# Claims for the minted token that replaces a fake JWT, per record (default: valid for an hour,
# audience = the API host). Times are relative to SENT_AT.
TOKEN_STORY = {
    "graph-expired-token-401": {"aud": "https://graph.microsoft.com", "exp": -600},
    "graph-lifetime-validation-failed-401": {"aud": "https://graph.microsoft.com", "exp": -7200},
    "graph-invalid-audience-401": {"aud": "https://graph.windows.net"},
    "sharepoint-invalid-audience-401": {"aud": "f8f8d2ad-7c9d-4aac-80eb-3f00a263c879"},
    "sharepoint-graph-token-sent-to-spo-401": {"aud": "https://graph.microsoft.com"},
    "arm-invalid-token-audience-401": {"aud": "api://f8c37a6e-0d92-4b31-992f-6e5c9c6f1a99"},
    "apigw-cognito-authorizer-unauthorized-401": {"token_use": "access", "aud": None},
}

# RFC 9110 §15.5.5 lets any server hide a 403 as 404; authlens reports it only for APIs known (or
# configured, e.g. by a preset) to do so. The RFC illustration is such a configured API.
EXTRA_MASKING_404 = {"www.example.com": ("/private/",)}


def load_corpus() -> list[dict]:
    assert CORPUS.is_file(), f"corpus missing: {CORPUS}"
    return json.loads(CORPUS.read_text(encoding="utf-8"))


RECORDS = {r["id"]: r for r in load_corpus()} if CORPUS.is_file() else {}


def record_for(record_id: str) -> dict:
    load_corpus()  # fails loudly when the corpus is missing
    return RECORDS[record_id]


def mint(record: dict) -> str:
    story = dict(TOKEN_STORY.get(record["id"], {}))
    host = record["request"]["url"].split("/")[2]
    claims = {"iss": "https://sts.windows.net/00000000-0000-0000-0000-000000000000/",
              "sub": "00000000-0000-0000-0000-00000000cafe", "aud": f"https://{host}",
              "iat": SENT_AT - 300, "nbf": SENT_AT - 300, "exp": 3600}
    claims.update(story)
    claims["exp"] = SENT_AT + claims["exp"]
    if story.get("exp", 0) < 0:
        claims["iat"] = claims["nbf"] = claims["exp"] - 3600
    if claims.get("aud") is None:
        claims.pop("aud")
    return jwt.encode(claims, _KEY, algorithm="HS256", headers={"typ": "JWT"})


def to_exchange(record: dict) -> Exchange:
    req, resp = record["request"], record["response"]
    token = None

    def replace(match: re.Match) -> str:
        nonlocal token
        token = token or mint(record)
        return token

    headers = tuple((k, _FAKE_JWT.sub(replace, v)) for k, v in (req.get("headers") or {}).items())
    request = RequestView(req["method"], req["url"], headers,
                          (req.get("body") or "").encode("utf-8"), timestamp=SENT_AT)
    response = ResponseView(resp["status"], tuple((resp.get("headers") or {}).items()),
                            (resp.get("body") or "").encode("utf-8"), timestamp=SENT_AT + 0.2)
    return Exchange(request, response, id=record["id"])


@pytest.fixture
def masking(monkeypatch):
    monkeypatch.setattr(bodies, "MASKING_404", {**bodies.MASKING_404, **EXTRA_MASKING_404})


def test_corpus_is_there_and_complete():
    records = load_corpus()
    ids = [r["id"] for r in records]
    assert len(ids) == len(set(ids))
    assert set(ids) == set(EXPECTED), "every record needs an expectation (and no stale ones)"


@pytest.mark.parametrize("record_id", sorted(EXPECTED))
def test_record_diagnosis(record_id, masking):
    record = record_for(record_id)
    diagnosis = Analyzer().analyze(to_exchange(record))
    verdict, cause = EXPECTED[record["id"]]
    assert (diagnosis.verdict, diagnosis.cause) == (verdict, cause), (
        f"{record['id']}: expected {verdict}/{cause}, got {diagnosis.verdict}/{diagnosis.cause}: "
        f"{diagnosis.summary}\n{record['expected_diagnosis']}")
    assert diagnosis.summary
    json.dumps(diagnosis.to_dict())  # plain types only


@pytest.mark.parametrize("record_id", sorted(EXPECTED))
def test_record_messages_leak_no_secret(record_id, masking):
    record = record_for(record_id)
    exchange = to_exchange(record)
    diagnosis = Analyzer().analyze(exchange)
    secrets = set()
    for key, value in exchange.request.headers:
        if key.lower() in ("authorization", "x-api-key", "cookie"):
            secret = value.split(" ", 1)[-1]
            if len(secret) >= 16:
                secrets.add(secret)
    for finding in diagnosis.findings:
        for secret in secrets:
            assert secret not in finding.message


def test_minted_tokens_fit_the_story():
    record = record_for("graph-expired-token-401")
    token = to_exchange(record).request.header("Authorization").split()[1]
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["exp"] < SENT_AT
