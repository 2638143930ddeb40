"""credential-dropped-on-redirect: true and false positives, chains, replays, bounded memory."""

from conversation import Conversation, only, step
from factories import ids

from authlens.redirects import RedirectTracker
from authlens.render import text

A = "http://127.0.0.1:9001"
B = "http://127.0.0.1:9002"
BEARER = "Bearer opaque-token-value-1234567890"


def redirect(to: str, flow_id: str = "r1", url: str = A + "/v1/data", status: int = 302, at=0.0,
             authorization=BEARER):
    return step(flow_id, url, status, at, authorization=authorization,
                response_headers=(("Location", to),))


def test_follow_up_without_the_credential_is_explained_and_linked():
    conv = Conversation()
    conv.see(redirect(B + "/v1/data"))
    d = conv.see(step("f1", B + "/v1/data", 401, at=0.2))
    assert (d.verdict, d.cause) == ("authentication", "credential-dropped-on-redirect")
    finding = only(d, "credential-dropped-on-redirect")
    assert A in finding.message and B in finding.message
    assert d.links == [{"relation": "redirected-by", "flow": "r1",
                        "description": f"302 GET {A}/v1/data -> {B}/v1/data"}]
    comment = text.comment(d.to_dict())
    assert f"See flow r1 (redirected-by): 302 GET {A}/v1/data" in comment
    assert "call the final URL" in comment


def test_signed_urls_in_the_redirect_are_shown_redacted():
    """A presigned target (S3's X-Amz-Signature) or a token in the source URL is a secret: the
    finding and its link name the redirect without it, unless secrets are revealed."""
    signature = "9f1c2d3e4b5a69788796a5b4c3d2e1f0aabbccddeeff00112233445566778899"
    target = f"{B}/files/report.pdf?X-Amz-Signature={signature}&X-Amz-Expires=300"
    for reveal in (False, True):
        conv = Conversation(reveal=reveal)
        conv.see(redirect(target, url=f"{A}/v1/export?access_token=tok-{signature}"))
        d = conv.see(step("f1", target, 401, at=0.2))
        shown = repr(d.to_dict()) + text.comment(d.to_dict())
        assert d.cause == "credential-dropped-on-redirect"
        assert (signature in shown) is reveal
        assert "X-Amz-Expires=300" in shown and "/files/report.pdf" in shown


def test_relative_location_scheme_change_and_403():
    conv = Conversation()
    conv.see(redirect("https://127.0.0.1:9001/v2/data", status=308))
    d = conv.see(step("f1", "https://127.0.0.1:9001/v2/data", 403, at=1))
    assert d.cause == "credential-dropped-on-redirect"


def test_chain_of_redirects_is_followed():
    conv = Conversation()
    conv.see(redirect(B + "/hop"))
    conv.see(step("r2", B + "/hop", 307, at=0.1, response_headers=(("Location", "/final"),)))
    d = conv.see(step("f1", B + "/final", 401, at=0.2))
    assert d.cause == "credential-dropped-on-redirect"
    assert d.links[0]["flow"] == "r2"


def test_healthy_and_unrelated_follow_ups_say_nothing():
    cases = [
        [redirect(B + "/x"), step("f", B + "/x", 200, at=0.1)],                     # target is open
        [redirect(B + "/x"), step("f", B + "/x", 401, at=0.1, authorization=BEARER)],  # re-attached
        [redirect(A + "/x"), step("f", A + "/x", 401, at=0.1)],                     # same origin
        [redirect(B + "/x"), step("f", B + "/x", 401, at=0.1, client="10.0.0.8")],  # other client
        [redirect(B + "/x"), step("f", B + "/x", 401, at=120)],                     # much later
        [redirect(B + "/x"), step("f", B + "/x", 401, at=-1)],                      # before it
        [redirect(B + "/x", authorization=None), step("f", B + "/x", 401, at=0.1)],  # no credential
        [redirect(B + "/x"), step("f", B + "/y", 401, at=0.1)],                     # elsewhere
    ]
    for exchanges in cases:
        d = Conversation().see(*exchanges)
        assert "credential-dropped-on-redirect" not in ids(d), exchanges


def test_replays_neither_self_link_nor_explain_a_second_request():
    conv = Conversation()
    first = redirect(B + "/x")
    follow = step("f1", B + "/x", 401, at=0.1)
    conv.see(first, follow)
    assert conv.see(follow).links == conv.see(follow).links != []   # the same flow again
    assert "credential-dropped-on-redirect" not in ids(conv.see(first))  # the redirect replayed
    other = step("f2", B + "/x", 401, at=0.3)                            # one redirect, one follow-up
    assert "credential-dropped-on-redirect" not in ids(conv.see(other))


def test_memory_is_bounded():
    tracker = RedirectTracker(limit=3)
    conv = Conversation()
    conv.analyzer.trackers = [tracker]
    for n in range(10):
        conv.see(redirect(f"{B}/{n}", flow_id=f"r{n}"))
    assert len(tracker._redirects) == 3
