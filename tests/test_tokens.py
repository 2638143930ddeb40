"""Token decoding and time checks (real JWTs minted with pyjwt)."""

from factories import NOW, diagnose, exchange, ids, mint

from authlens import tokens
from authlens.credentials import Credential


def decoded(value: str) -> tokens.Token:
    (token,) = tokens.decode_credentials([Credential("header", "Authorization", value, "Bearer", value)])
    return token


def test_valid_jwt_has_no_token_findings_and_shows_claims():
    assert diagnose(exchange(f"Bearer {mint(scp='Orders.Read')}")).findings == []
    d = diagnose(exchange(f"Bearer {mint(scp='Orders.Read')}", status=403))
    assert not [i for i in ids(d) if i.startswith("token-")]  # nothing wrong with the token
    (token,) = d.tokens
    assert token["kind"] == "jwt"
    assert token["claims"]["scp"] == "Orders.Read"
    assert token["claims"]["aud"] == "api://orders"
    assert token["lifetime"] == "60 min"
    assert "(in 59 min)" in token["times"]["exp"]


def test_expired_token_is_the_cause_of_a_401_with_human_times():
    value = mint(issued=NOW - 3600 - 840)  # expired 14 min before sending
    d = diagnose(exchange(f"Bearer {value}", status=401))
    assert d.verdict == "authentication"
    assert d.cause == "token-expired"
    message = d.cause_finding.message
    assert "expired 14 min before the request was sent" in message
    assert "it lived 60 min" in message
    assert value not in message and value not in d.summary


def test_expiry_is_judged_at_send_time_not_wall_clock():
    value = mint(issued=NOW - 60)
    # the same token, sent while valid, stays valid whenever the capture is read
    assert "token-expired" not in ids(diagnose(exchange(f"Bearer {value}", status=401, sent=NOW)))
    assert "token-expired" in ids(diagnose(exchange(f"Bearer {value}", status=401, sent=NOW + 7200)))


def test_leeway_absorbs_small_clock_skew():
    value = mint(issued=NOW - 3600 - 30)  # expired 30 s ago
    assert "token-expired" not in ids(diagnose(exchange(f"Bearer {value}"), leeway=60))
    assert "token-expired" in ids(diagnose(exchange(f"Bearer {value}"), leeway=10))


def test_not_yet_valid_names_the_claim():
    d = diagnose(exchange(f"Bearer {mint(issued=NOW + 600)}", status=401))
    assert d.cause == "token-not-yet-valid"
    assert "iat" in d.cause_finding.message or "nbf" in d.cause_finding.message
    d = diagnose(exchange(f"Bearer {mint(nbf=int(NOW + 900))}", status=401))
    assert dict(d.cause_finding.evidence)["claim"] == "nbf"


def test_unsigned_token():
    d = diagnose(exchange(f"Bearer {mint(alg='none')}", status=401))
    assert d.cause == "token-unsigned"


def test_malformed_jwt_names_the_part():
    header = mint().split(".")[0]
    token = decoded(f"{header}.FAKE_PAYLOAD_NOT_A_REAL_TOKEN.sig")
    assert token.kind == "malformed" and "payload" in token.problem
    token = decoded(f"{header}.e30%3D.sig")
    assert token.kind == "malformed" and "payload contains '%'" in token.problem
    token = decoded("eyJhbGciOiJIUzI1NiJ9.e30")
    assert token.kind == "malformed" and "has 2" in token.problem


def test_opaque_and_encrypted_are_info_only():
    assert decoded("gho_16C7e42F292c6912E7710c838347Ae178B4a").kind == "opaque"
    jwe = "eyJhbGciOiJSU0EtT0FFUCIsImVuYyI6IkEyNTZHQ00ifQ.a.b.c.d"
    assert decoded(jwe).kind == "jwe"
    d = diagnose(exchange("Bearer gho_16C7e42F292c6912E7710c838347Ae178B4a"))
    assert [f.severity for f in d.findings] == ["info"]
    assert not d.noteworthy


def test_basic_credentials_are_not_tokens():
    d = diagnose(exchange("Basic dXNlcjpwYXNz"))
    assert d.tokens == []


def test_huge_token_is_bounded():
    token = decoded("eyJ" + "A" * 200_000)
    assert token.kind == "malformed"


def test_token_shape_findings_on_a_refusal():
    header = mint().split(".")[0]
    d = diagnose(exchange(f"Bearer {header}.FAKE_PAYLOAD.sig", status=401))
    assert d.cause == "token-malformed" and "payload" in d.cause_finding.message
    jwe = "eyJhbGciOiJSU0EtT0FFUCIsImVuYyI6IkEyNTZHQ00ifQ.a.b.c.d"
    d = diagnose(exchange(f"Bearer {jwe}", status=401))
    assert "token-encrypted" in ids(d) and d.cause != "token-encrypted"


def test_a_jwe_header_is_read_with_or_without_padding_and_a_broken_one_is_malformed():
    import base64
    import json as _json
    header = base64.urlsafe_b64encode(_json.dumps({"alg": "RSA-OAEP", "enc": "A128GCM",
                                                   "kid": "k1"}).encode()).decode()
    assert header.endswith("=")  # this header's base64url needs padding
    for sent in (header, header.rstrip("=")):
        token = decoded(f"{sent}.a.b.c.d")
        assert token.kind == "jwe" and token.header["kid"] == "k1"
    broken = decoded("eyJhbGciOi.a.b.c.d")
    assert broken.kind == "malformed" and broken.problem.startswith("JWE header")
