"""Every finding a rule enables, and every preset against its records of the corpus (tests/data)."""

import base64
import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from factories import NOW, exchange, ids, mint
from test_corpus import load_corpus, to_exchange

from authlens import catalog
from authlens.analyze import Analyzer, Settings
from authlens.model import Exchange, RequestView, ResponseView
from authlens.rules import RuleSet, RuleStore, jwks, load_text

RULES = '''
[[rule]]
name = "Orders"
hosts = ["api.example", "staging.api.example"]

[[rule.credential]]
label = "gateway key"
header = "X-API-Key"

[[rule.credential]]
label = "backend token"
schemes = ["Bearer"]

[rule.token]
audiences = ["https://{host}", "api://orders"]
issuers = ["https://login.example/*", "https://login.staging.example/*"]
scopes = ["Orders.Read"]
roles = ["Reader"]
max_skew = 5

[[rule.environments]]
name = "staging"
issuers = ["https://login.staging.example/*"]
hosts = ["staging.api.example"]

[[rule.environments]]
name = "production"
issuers = ["https://login.example/*"]
hosts = ["api.example"]

[[rule]]
name = "Keys"
hosts = ["keys.example"]
[[rule.credential]]
header = "X-API-Key"

[[rule]]
name = "Graph-like"
hosts = ["graph.example"]
[rule.token]
audiences = ["https://graph.example"]
'''


def analyze(ex, text=RULES, **settings):
    loaded = load_text(text, "user.toml")
    assert not loaded.errors, loaded.errors
    return Analyzer(Settings(rules=RuleSet(loaded.rules, loaded.jwks), **settings)).analyze(ex)


def good_token(**claims):
    base = {"iss": "https://login.example/t1", "aud": "api://orders", "scp": "Orders.Read",
            "roles": ["Reader"]}
    return mint(**{**base, **claims})


def call(token=None, url="https://api.example/v1/orders", status=401, headers=(("X-API-Key", "k" * 32),),
         **kw):
    return exchange(f"Bearer {token}" if token else None, status=status, url=url, headers=headers, **kw)


def finding(d, finding_id):
    return next(f for f in d.findings if f.id == finding_id)


def test_a_good_call_under_a_rule_has_no_rule_findings():
    assert ids(analyze(call(good_token(), status=200))) == []
    # the same flaws on a call the API accepted are the rule's problem, not the request's
    assert ids(analyze(call(good_token(aud="api://other"), status=200))) == []


def test_apikey_wrong_place_names_both_places():
    d = analyze(exchange("Bearer " + "k" * 32, status=401, url="https://keys.example/x"))
    f = finding(d, "apikey-wrong-place")
    assert "wants the credential in header X-API-Key" in f.message
    assert "in header Authorization instead" in f.message and "k" * 32 not in f.message
    assert (d.verdict, d.cause) == ("authentication", "apikey-wrong-place")
    d = analyze(exchange(None, status=401, url="https://keys.example/x?api_key=" + "k" * 32))
    assert "query parameter ?api_key=" in finding(d, "apikey-wrong-place").message


def test_one_of_two_required_credentials_missing():
    d = analyze(call(good_token(), headers=()))
    assert "did not send gateway key: header X-API-Key" in finding(d, "credential-missing").message
    assert "apikey-wrong-place" not in ids(d)  # the Authorization header is the backend token's place


def test_scheme_unexpected_against_the_rule():
    d = analyze(exchange("Basic dXNlcjpwYXNz", status=401, url="https://api.example/v1",
                         headers=(("X-API-Key", "k"),)))
    assert "expects Authorization: Bearer; the request sent Basic" in finding(d, "scheme-unexpected").message


def test_audience_mismatch_names_the_api_the_token_is_for():
    d = analyze(call(good_token(aud="https://graph.example")))
    f = finding(d, "token-audience-mismatch")
    assert "audience is https://graph.example (Graph-like)" in f.message
    assert "accepts https://api.example, api://orders" in f.message  # {host} filled in
    assert d.cause == "token-audience-mismatch"
    assert "token-audience-mismatch" not in ids(analyze(call(good_token(aud="https://api.example"))))


def test_staging_token_on_the_production_host_names_the_environment():
    d = analyze(call(good_token(iss="https://login.staging.example/t1")))
    f = finding(d, "token-issuer-mismatch")
    assert "a staging token" in f.message and "api.example is production" in f.message
    assert d.verdict == "authentication"
    staging = call(good_token(iss="https://login.staging.example/t1"), url="https://staging.api.example/v1")
    assert "token-issuer-mismatch" not in ids(analyze(staging))


def test_untrusted_issuer():
    d = analyze(call(good_token(iss="https://evil.example/")))
    assert "issuer is https://evil.example/; Orders" in finding(d, "token-issuer-mismatch").message


def test_scope_and_role_missing_from_the_rule():
    d = analyze(call(good_token(scp="User.Read", roles=["Writer"]), status=403))
    messages = [f.message for f in d.findings if f.id == "token-scope-missing"]
    assert any("needs scope(s) Orders.Read; the token has User.Read" in m for m in messages)
    assert any("needs role(s) Reader; the token has Writer" in m for m in messages)
    assert d.verdict == "authorization"


def test_scope_missing_from_a_challenge_scope():
    d = analyze(call(good_token(scp="User.Read Mail.Read"), status=403, response_headers=(
        ("WWW-Authenticate", 'Bearer error="insufficient_scope", scope="Files.Read.All Mail.Read"'),)))
    f = next(f for f in d.findings if f.id == "token-scope-missing" and "challenge" in f.message)
    assert dict(f.evidence)["missing"] == ["Files.Read.All"]
    assert "the token has Mail.Read, User.Read" in f.message


def test_scope_missing_from_accepted_oauth_scopes_hierarchy():
    def d(have, accepted):
        return analyze(exchange("token ghp_x", status=404, url="https://nohost.example/r", response_headers=(
            ("X-OAuth-Scopes", have), ("X-Accepted-OAuth-Scopes", accepted))))
    assert "X-Accepted-OAuth-Scopes says the call needs one of repo; the token has read:user" in \
        finding(d("read:user", "repo"), "token-scope-missing").message
    for have, accepted in (("repo", "repo:status"), ("user", "read:user"), ("admin:org", "read:org"),
                           ("write:packages", "read:packages"), ("gist, repo", "repo")):
        assert "token-scope-missing" not in ids(d(have, accepted)), (have, accepted)
    assert "token-scope-missing" in ids(d("read:org", "admin:org"))


def test_max_skew_of_the_rule_replaces_the_leeway():
    token = good_token(issued=NOW - 3600 - 30)  # expired 30 s before sending
    assert "token-expired" in ids(analyze(call(token)))  # the rule tolerates 5 s
    assert "token-expired" not in ids(analyze(call(token, url="https://nohost.example/")))  # leeway 60


# ---- signatures -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def keys():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048), \
        rsa.generate_private_key(public_exponent=65537, key_size=2048)


def jwks_of(private, kid):
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key()))
    return {"keys": [{**jwk, "kid": kid, "use": "sig", "alg": "RS256"}]}


def rs256(private, kid, **claims):
    payload = {"iss": "https://idp.example/", "aud": "api://orders", "iat": int(NOW - 60),
               "exp": int(NOW + 3600), **claims}
    return jwt.encode(payload, private, algorithm="RS256", headers={"kid": kid})


def test_signature_invalid_with_a_local_jwks_file(tmp_path, keys):
    good, forged = keys
    (tmp_path / "jwks.json").write_text(json.dumps(jwks_of(good, "k1")))
    (tmp_path / "r.toml").write_text('[[jwks]]\nissuer = "https://idp.example/"\nfile = "jwks.json"\n')
    store = RuleStore([str(tmp_path)], presets=False)
    store.reload()

    def run(token):
        return Analyzer(Settings(rules=store.ruleset)).analyze(exchange(f"Bearer {token}", status=401))
    assert "token-signature-invalid" not in ids(run(rs256(good, "k1")))
    d = run(rs256(forged, "k1"))
    assert d.cause == "token-signature-invalid"
    assert "signature does not match the issuer's key k1" in d.cause_finding.message
    assert "no key with kid 'k9'" in finding(run(rs256(good, "k9")), "token-signature-invalid").message


class KeyServer:
    """A JWKS endpoint on loopback that counts its hits and can be slow."""

    def __init__(self, body: bytes, delay: float = 0.0):
        hits = self.hits = []
        self.body = body

        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                hits.append(self.path)
                time.sleep(delay)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(outer.body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/keys-{id(self)}"

    def rule(self) -> str:
        return f'[[jwks]]\nissuer = "https://idp.example/"\nurl = "{self.url}"\n'

    def close(self):
        self.server.shutdown()


@pytest.fixture
def blocking(monkeypatch):
    monkeypatch.setattr(jwks, "BLOCKING", True)


def test_signature_with_a_jwks_url_the_user_named(keys, blocking):
    good, forged = keys
    server = KeyServer(json.dumps(jwks_of(good, "k1")).encode())
    try:
        for _ in range(2):
            assert analyze(exchange(f"Bearer {rs256(forged, 'k1')}", status=401), server.rule()).cause == \
                "token-signature-invalid"
        assert "token-signature-invalid" not in ids(analyze(exchange(f"Bearer {rs256(good, 'k1')}", status=401), server.rule()))
        assert len(server.hits) == 1  # fetched once, then cached
    finally:
        server.close()


def test_the_jwks_is_fetched_off_the_calling_thread(keys, monkeypatch):
    """A slow JWKS never holds the proxy: the first refused call is analysed at once (its
    signature unjudged), the ones after the keys arrived are judged."""
    good, forged = keys
    monkeypatch.setattr(jwks, "BLOCKING", False)  # as in the proxy
    server = KeyServer(json.dumps(jwks_of(good, "k1")).encode(), delay=1.0)
    try:
        started = time.monotonic()
        first = analyze(exchange(f"Bearer {rs256(forged, 'k1')}", status=401), server.rule())
        assert time.monotonic() - started < 0.5
        assert "token-signature-invalid" not in ids(first)
        deadline = time.monotonic() + 10
        while jwks.remote(server.url).pending is not None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert analyze(exchange(f"Bearer {rs256(forged, 'k1')}", status=401), server.rule()).cause == \
            "token-signature-invalid"
    finally:
        server.close()


def test_an_unreachable_jwks_is_tried_once_per_minute(monkeypatch):
    monkeypatch.setattr(jwks, "BLOCKING", False)
    url = f"http://127.0.0.1:9/keys-{time.monotonic_ns()}"  # discard port: refused at once
    text = f'[[jwks]]\nissuer = "https://idp.example/"\nurl = "{url}"\n'
    for _ in range(20):
        d = analyze(exchange(f"Bearer {mint(iss='https://idp.example/')}", status=401), text)
        assert "token-signature-invalid" not in ids(d)
    deadline = time.monotonic() + 10
    while jwks.remote(url).pending is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert jwks.remote(url).fetches == 1


def test_an_unknown_kid_refetches_at_most_once_a_minute(keys, blocking, monkeypatch):
    good, forged = keys
    server = KeyServer(json.dumps(jwks_of(good, "k1")).encode())
    try:
        assert "token-signature-invalid" not in ids(analyze(exchange(f"Bearer {rs256(good, 'k1')}", status=401), server.rule()))
        server.body = json.dumps(jwks_of(forged, "k2")).encode()  # the issuer rotated its key
        keys_now = jwks.remote(server.url)
        keys_now.tried_at -= jwks.REFETCH_EVERY  # a minute later
        assert "token-signature-invalid" not in ids(analyze(exchange(f"Bearer {rs256(forged, 'k2')}", status=401), server.rule()))
        assert len(server.hits) == 2
        for _ in range(5):  # a forger's kids do not make it fetch again
            d = analyze(exchange(f"Bearer {rs256(forged, 'k9')}", status=401), server.rule())
            assert "no key with kid 'k9'" in finding(d, "token-signature-invalid").message
        assert len(server.hits) == 2
    finally:
        server.close()


def test_the_algorithm_is_the_keys_not_the_tokens(keys, tmp_path):
    """An HS256 token "signed" with the issuer's public key must not verify (alg confusion)."""
    good, _ = keys
    (tmp_path / "jwks.json").write_text(json.dumps(jwks_of(good, "k1")))
    (tmp_path / "r.toml").write_text('[[jwks]]\nissuer = "https://idp.example/"\nfile = "jwks.json"\n')
    store = RuleStore([str(tmp_path)], presets=False)
    store.reload()
    pem = good.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).decode().rstrip("=")
    signing_input = (b64(json.dumps({"alg": "HS256", "kid": "k1"}).encode()) + "." + b64(json.dumps(
        {"iss": "https://idp.example/", "exp": int(NOW + 3600)}).encode()))
    forged = signing_input + "." + b64(hmac.new(pem, signing_input.encode(), hashlib.sha256).digest())
    d = Analyzer(Settings(rules=store.ruleset)).analyze(exchange(f"Bearer {forged}", status=401))
    assert d.cause == "token-signature-invalid"
    assert "'HS256'" in d.cause_finding.message and "RS256" in d.cause_finding.message


def test_signatures_are_judged_only_on_refused_calls(keys, tmp_path):
    good, forged = keys
    (tmp_path / "jwks.json").write_text(json.dumps(jwks_of(good, "k1")))
    (tmp_path / "r.toml").write_text('[[jwks]]\nissuer = "https://idp.example/"\nfile = "jwks.json"\n')
    store = RuleStore([str(tmp_path)], presets=False)
    store.reload()
    ok = Analyzer(Settings(rules=store.ruleset)).analyze(exchange(f"Bearer {rs256(forged, 'k1')}", status=200))
    assert "token-signature-invalid" not in ids(ok)


# ---- presets against the corpus ----------------------------------------------------------------

PRESETS = RuleStore([], presets=True)
PRESETS.reload()

# record id -> (rule name, finding that must be there, its verdict, the diagnosis' cause or None)
PRESET_EXPECTATIONS = {
    "graph-expired-token-401": ("Microsoft Graph", "vendor-error", "authentication", "token-expired"),
    "graph-invalid-audience-401": ("Microsoft Graph", "token-audience-mismatch", "authentication", "token-audience-mismatch"),
    "graph-authorization-requestdenied-403": ("Microsoft Graph", "vendor-error", "authorization", "token-scope-missing"),
    "entra-refresh-token-inactive-400": ("Entra ID token endpoint", "vendor-error", "authentication", None),
    "entra-invalid-client-secret-401": ("Entra ID token endpoint", "vendor-error", "authentication", None),
    "sharepoint-invalid-audience-401": ("SharePoint Online", "token-audience-mismatch", "authentication", "token-audience-mismatch"),
    "sharepoint-graph-token-sent-to-spo-401": ("SharePoint Online", "token-audience-mismatch", "authentication", "token-audience-mismatch"),
    "sharepoint-access-denied-noscript-403": ("SharePoint Online", "vendor-error", "authorization", "permission-missing"),
    "dataverse-user-not-member-403": ("Dataverse", "vendor-error", "authorization", "permission-missing"),
    "dataverse-missing-privilege-403": ("Dataverse", "vendor-error", "authorization", "permission-missing"),
    "arm-invalid-token-audience-401": ("Azure Resource Manager", "token-audience-mismatch", "authentication", "token-audience-mismatch"),
    "arm-missing-authorization-header-401": ("Azure Resource Manager", "vendor-error", "authentication", None),
    "arm-malformed-authorization-header-401": ("Azure Resource Manager", "vendor-error", "authentication", None),
    "github-bad-credentials-401": ("GitHub", "vendor-error", "authentication", "credential-invalid"),
    "github-saml-sso-required-403": ("GitHub", "vendor-error", "authorization", "sso-not-authorized"),
    "github-resource-not-accessible-by-integration-403": ("GitHub", "vendor-error", "authorization", "permission-missing"),
    "github-private-repo-404-masking": ("GitHub", "token-scope-missing", "authorization", "token-scope-missing"),
    "google-insufficient-scope-errorinfo-403": ("Google APIs", "vendor-error", "authorization", "token-scope-missing"),
    "google-service-disabled-403": ("Google APIs", "vendor-error", "authorization", "api-access-not-configured"),
    "google-api-key-invalid-400": ("Google APIs", "vendor-error", "authentication", "credential-invalid"),
    "slack-token-in-querystring-200": ("Slack Web API", "apikey-wrong-place", "authentication", "apikey-wrong-place"),
    "slack-missing-scope-200": ("Slack Web API", "token-scope-missing", "authorization", None),
    "apigw-missing-authentication-token-wrong-path-403": ("AWS API Gateway", "vendor-error", "unknown", None),
    "apigw-cognito-authorizer-unauthorized-401": ("AWS API Gateway", "vendor-error", "authentication", None),
    "apigw-api-key-no-usage-plan-403": ("AWS API Gateway", "vendor-error", "authorization", "api-access-not-configured"),
}
CORPUS = {r["id"]: r for r in load_corpus()}


@pytest.mark.parametrize("record_id", sorted(PRESET_EXPECTATIONS))
def test_preset_on_corpus_record(record_id):
    rule_name, finding_id, verdict, cause = PRESET_EXPECTATIONS[record_id]
    ex = to_exchange(CORPUS[record_id])
    request = ex.request
    assert PRESETS.ruleset.match(request.host, request.path, request.method).name == rule_name
    d = Analyzer(Settings(rules=PRESETS.ruleset)).analyze(ex)
    if finding_id == "vendor-error":  # the rule's code, under the catalog id the preset maps it to
        f = next((f for f in d.findings if dict(f.evidence).get("rule")), None) or d.cause_finding
    else:
        f = finding(d, finding_id)
    assert f.effective_verdict == verdict, f.message
    if cause:
        assert d.cause == cause, d.summary
    assert d.verdict in (verdict, "authentication" if verdict == "unknown" else verdict, "unknown") \
        or (cause and d.verdict == catalog.get(cause).verdict)


BEARER_HEADERS = (("Authorization", "Bearer opaque-token-value-1234567890"),)


def _example_host(glob: str) -> str:
    return glob.replace("*", "a")


def _body_with(dotted: str, code: str):
    """The smallest JSON body holding ``code`` at ``dotted`` (``*`` and digits: a list)."""
    value: object = code
    for part in reversed(dotted.split(".")):
        value = [value] if part == "*" or part.isdigit() else {part: value}
    return value


def test_every_preset_code_is_read_by_the_body_readers_as_its_catalog_id():
    """The vendors' codes live only in the presets: the body readers (presets not in force)
    read each code where its preset says, with the preset's verdict and catalog id."""
    from authlens import bodies
    from authlens.analyze import Context
    checked = 0
    for rule in bodies.PRESET_ERRORS.rules:
        spec = rule.errors
        for code, known in spec.codes.items():
            if code in bodies.OAUTH:
                continue  # an RFC 6749 §5.2 code: the standard reader's, whoever sends it
            status = next((s for s in spec.statuses if s >= 400), 403)
            if spec.code_fields:
                data = _body_with(spec.code_fields[0], code)
                if spec.ok_field:
                    data[spec.ok_field] = False
                body, headers = json.dumps(data).encode(), ()
            else:
                body, headers = b"{}", ((spec.code_headers[0], code),)
            url = f"https://{_example_host(rule.hosts[0])}{rule.paths[0] if rule.paths else '/'}x"
            ex = Exchange(RequestView("GET", url, ()), ResponseView(status, headers, body))
            error = Context(ex, Settings()).error_body
            assert error is not None and error.code == code, (rule.name, code, error)
            assert error.verdict == bodies.VERDICTS[known.verdict], (rule.name, code)
            assert error.named == known.finding, (rule.name, code)
            checked += 1
    assert checked > 120


def test_no_vendor_table_is_left_in_code():
    from authlens import bodies
    for name in ("MICROSOFT", "AADSTS", "GOOGLE", "GITHUB", "SLACK", "STRIPE", "AWS", "SPECIFIC"):
        assert not hasattr(bodies, name), name


def test_a_preset_code_is_all_it_takes(monkeypatch):
    """A new vendor code is one table in a preset: the body readers name its catalog id on any
    host when the preset says ``anywhere``, and only on its own hosts otherwise."""
    from authlens import bodies
    loaded = load_text('''
[[rule]]
name = "Contoso"
hosts = ["api.contoso.example"]

[rule.errors]
code_fields = ["fault.code"]
message_field = "fault.text"
anywhere = true

[rule.errors.codes.E_STALE]
finding = "token-revoked"
meaning = "The session was ended by an administrator."
verdict = "authentication"

[rule.errors.codes.E_SEATS]
messages = ["no seat left"]
finding = "permission-missing"
meaning = "The organization has no license seat left for this user."
verdict = "authorization"
''', "contoso.toml")
    assert not loaded.errors
    presets = bodies.PresetErrors()
    presets.rules = loaded.rules  # what ``once`` would have loaded
    monkeypatch.setattr(bodies, "PRESET_ERRORS", presets)

    def diagnose(url, fault, status=401):
        body = json.dumps({"fault": fault}).encode()
        return Analyzer().analyze(Exchange(RequestView("GET", url, BEARER_HEADERS),
                                           ResponseView(status, (), body)))
    d = diagnose("https://elsewhere.example/x", {"code": "E_STALE"})
    assert (d.verdict, d.cause) == ("authentication", "token-revoked")
    d = diagnose("https://api.contoso.example/x", {"text": "No seat left for you"}, 403)
    assert (d.verdict, d.cause) == ("authorization", "permission-missing")
    d = diagnose("https://elsewhere.example/x", {"text": "No seat left for you"}, 403)
    assert d.cause != "permission-missing"  # phrases only on the API's own hosts


def test_a_preset_that_does_not_load_is_a_warning(monkeypatch, caplog):
    from authlens import bodies
    from authlens.rules import loader
    broken = loader.load_text("[[rule]]\nname = 1\n", "broken.toml")
    monkeypatch.setattr(loader, "load_presets", lambda: [broken])
    with caplog.at_level("DEBUG", logger="authlens"):
        assert bodies.PresetErrors().rules == ()
    assert caplog.records and all(r.levelname == "WARNING" for r in caplog.records)


def test_graph_token_sent_to_sharepoint_is_named_as_graph():
    d = Analyzer(Settings(rules=PRESETS.ruleset)).analyze(
        to_exchange(CORPUS["sharepoint-graph-token-sent-to-spo-401"]))
    assert "(Microsoft Graph); SharePoint Online" in finding(d, "token-audience-mismatch").message


def test_slack_missing_scope_names_the_scope_from_the_headers():
    d = Analyzer(Settings(rules=PRESETS.ruleset)).analyze(to_exchange(CORPUS["slack-missing-scope-200"]))
    assert d.verdict == "authorization"
    assert dict(finding(d, "token-scope-missing").evidence)["missing"] == ["groups:history"]
    assert d.cause == "token-scope-missing"  # the preset maps missing_scope to it: no vendor-error
    assert "vendor-error" not in ids(d) and ids(d).count("token-scope-missing") == 1


def test_every_corpus_service_with_a_preset_matches_it():
    for record in CORPUS.values():
        request = to_exchange(record).request
        rule = PRESETS.ruleset.match(request.host, request.path, request.method)
        if record["id"].startswith(("rfc", "keyvault")):
            assert rule is None, record["id"]
        else:
            assert rule is not None, record["id"]
