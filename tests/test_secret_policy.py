"""One secret policy (``authlens.secrecy``): every class of secret leaves ``authlens redact``,
display and extraction agree on what a secret is, and fingerprints are keyed per machine."""

from __future__ import annotations

import base64
import hashlib
import os
import stat
import subprocess
import sys

import jwt
import pytest
from mitmproxy import io as mitm_io
from mitmproxy.test import tflow

from authlens import secrecy
from authlens.cli import main
from authlens.credentials import extract_credentials
from authlens.model import RequestView

JWT = jwt.encode({"iss": "https://idp.example/", "exp": 2_000_000_000}, "k" * 32, algorithm="HS256")
JWT_SIGNATURE = JWT.rsplit(".", 1)[1]
LONG = {  # class -> a secret long enough to search the output bytes for
    "form password, letters only": "letmeinplease",
    "form password, digits only": "80417395",
    "client secret": "csecretQ8wE2rT6yU1iO5",
    "api key, letters only": "qwertyuiopasdfghjklz",
    "api key, capitals only": "QWERTYUIOPASDFGHJKLZ",
    "cookie": "sessZr8Qm2Lp6Wn1",
    "cookie, letters only": "abcdefghsession",
    "bearer, opaque": "opaqueTokenAbcdefXyz",
    "basic": base64.b64encode(b"svc:hunter").decode(),
    "jwt signature": JWT_SIGNATURE,
    "query token, letters only": "lettersonlyquerytoken",
    "oauth code": "SplxlOBeZQQYbYS6WxSbIA",
    "json refresh token": "refreshonlyletters",
}
SHORT = {"form password, short": "pw1", "api key, short": "k9", "cookie, short": "s1"}


def flows():
    login = tflow.tflow(resp=True)
    login.request.method, login.request.path = "POST", "/login?next=%2Fhome"
    login.request.headers["Content-Type"] = "application/x-www-form-urlencoded"
    login.request.content = (f"username=ann&password={LONG['form password, letters only']}"
                             f"&pin={LONG['form password, digits only']}&passwd={SHORT['form password, short']}"
                             f"&client_secret={LONG['client secret']}").encode()
    login.request.headers["Cookie"] = (f"sid={LONG['cookie']}; prefs={LONG['cookie, letters only']}; "
                                       f"x={SHORT['cookie, short']}")
    login.response.headers["Content-Type"] = "application/json"
    login.response.content = f'{{"refresh_token": "{LONG["json refresh token"]}", "token_type": "Bearer"}}'.encode()
    keyed = tflow.tflow(resp=True)
    keyed.request.path = f"/v1/items?access_token={LONG['query token, letters only']}&q=shoes"
    keyed.request.headers["X-API-Key"] = LONG["api key, letters only"]
    keyed.request.headers["X-Api-Token"] = LONG["api key, capitals only"]
    keyed.request.headers["X-Key"] = SHORT["api key, short"]
    keyed.request.headers["Authorization"] = f"Bearer {LONG['bearer, opaque']}"
    basic = tflow.tflow(resp=True)
    basic.request.headers["Authorization"] = f"Basic {LONG['basic']}"
    bearer_jwt = tflow.tflow(resp=True)
    bearer_jwt.request.headers["Authorization"] = f"Bearer {JWT}"
    redirect = tflow.tflow(resp=True)
    redirect.response.status_code = 302
    redirect.response.headers["Location"] = f"https://app.example/cb?code={LONG['oauth code']}&state=s"
    return [login, keyed, basic, bearer_jwt, redirect]


@pytest.fixture
def redacted(tmp_path):
    source, out = tmp_path / "in.flow", tmp_path / "out.flow"
    with open(source, "wb") as fo:
        writer = mitm_io.FlowWriter(fo)
        for flow in flows():
            writer.add(flow)
    assert main(["redact", str(source), str(out)]) == 0
    with open(out, "rb") as fo:
        return source.read_bytes(), out.read_bytes(), list(mitm_io.FlowReader(fo).stream())


@pytest.mark.parametrize("kind", sorted(LONG))
def test_every_secret_class_leaves_the_redacted_bytes(redacted, kind):
    source, copy, _ = redacted
    secret = LONG[kind].encode()
    assert secret in source and secret not in copy, kind


def test_short_secrets_are_replaced_too(redacted):
    _, _, (login, keyed, *_) = redacted
    assert f"passwd={SHORT['form password, short']}".encode() not in login.request.content
    assert b"passwd=REDACTED-" in login.request.content and b"username=ann" in login.request.content
    assert keyed.request.headers["X-Key"].startswith("REDACTED-")
    assert "x=REDACTED-" in login.request.headers["Cookie"]
    assert keyed.request.query["q"] == "shoes" and login.request.path.startswith("/login?next=")


def test_the_jwt_keeps_its_claims_and_the_scheme_stays(redacted):
    _, _, (_, keyed, basic, bearer_jwt, _) = redacted
    assert bearer_jwt.request.headers["Authorization"].startswith("Bearer " + JWT.rsplit(".", 1)[0] + ".REDACTED")
    assert basic.request.headers["Authorization"].startswith("Basic REDACTED-")
    assert keyed.request.headers["Authorization"].startswith("Bearer REDACTED-")


@pytest.mark.parametrize("value", ["{{token}}", "${API_KEY}", "undefined", "YOUR_API_KEY",
                                   "<your-token>", "xxxxxxxx", "null"])
def test_placeholders_stay_so_the_finding_survives(value):
    assert secrecy.Redactor().header("X-API-Key", value) == value


@pytest.mark.parametrize("value", ["letmein", "LETMEIN", "API_KEY", "changeme", "$ecretPass", "p<ss>word"])
def test_no_value_is_kept_for_its_letters(value):
    assert value not in secrecy.Redactor().header("X-API-Key", value)
    assert value not in secrecy.Redactor().params(f"password={value}")


NAMES = ["access_token", "token_type", "token_type_hint", "code", "password", "client_secret", "id_token", "sig", "key", "apikey",
         "api_key", "refresh_token", "state", "q", "page", "redirect_uri", "scope", "session_id",
         "code_verifier", "client_assertion", "hapikey", "subscription-key", "jwt"]


@pytest.mark.parametrize("name", NAMES)
def test_display_and_redact_agree_on_what_a_secret_is(name):
    """``?code=`` was shown live and redacted by ``authlens redact``: one policy now."""
    url = f"https://api.example/cb?{name}=Value12345"
    shown = secrecy.redact_url(url)
    copied = secrecy.Redactor().url(url)
    assert ("Value12345" in shown) == ("Value12345" in copied)
    assert ("Value12345" in shown) == (not secrecy.is_secret_param(name))


@pytest.mark.parametrize("name", sorted(secrecy.FORM_CREDENTIALS))
def test_every_extracted_credential_is_a_secret_to_redaction(name):
    request = RequestView("POST", f"https://api.example/t?{name}=Value12345",
                          [("Content-Type", "application/x-www-form-urlencoded")],
                          f"{name}=Value67890".encode())
    found = {(c.location, c.name) for c in extract_credentials(request)}
    assert ("body", name) in found
    assert secrecy.is_secret_param(name)
    assert "Value12345" not in secrecy.redact_url(request.url)


# ---- keyed fingerprints ---------------------------------------------------------------------


@pytest.fixture
def key_at(tmp_path, monkeypatch):
    def use(name: str):
        path = tmp_path / name / "fp.key"
        monkeypatch.setenv(secrecy.KEY_ENV, str(path))
        secrecy.reset_key()
        return path
    yield use
    secrecy.reset_key()


def test_fingerprints_are_keyed_not_a_bare_hash(key_at):
    path = key_at("a")
    secret = "hunter2"
    shown = secrecy.fingerprint(secret)
    assert shown != hashlib.sha256(secret.encode()).hexdigest()[:8]
    assert path.exists() and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert secrecy.fingerprint(secret) == shown  # stable
    assert f"#{shown}" in secrecy.redact(secret)
    key_at("b")
    assert secrecy.fingerprint(secret) != shown  # another machine's key, another id


def test_the_key_is_kept_across_runs(key_at):
    path = key_at("runs")
    here = secrecy.fingerprint("hunter2")
    code = "from authlens import secrecy; print(secrecy.fingerprint('hunter2'))"
    env = {**os.environ, secrecy.KEY_ENV: str(path)}
    for _ in range(2):
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                             check=True)
        assert out.stdout.strip() == here


def test_the_key_follows_mitmproxys_confdir(tmp_path, monkeypatch):
    monkeypatch.delenv(secrecy.KEY_ENV)
    try:
        secrecy.use_confdir(str(tmp_path / "conf"))
        secrecy.fingerprint("x")
        assert (tmp_path / "conf" / secrecy.KEY_NAME).exists()
    finally:
        secrecy.use_confdir(secrecy.DEFAULT_CONFDIR)


def test_a_redacted_capture_carries_no_key(redacted, key_at):
    _, copy, _ = redacted
    key = open(secrecy.key_file(), "rb").read()
    assert key not in copy and key.hex().encode() not in copy
    assert base64.b64encode(key) not in copy
