"""The realistic traffic mix every benchmark replays.

60 % bearer JWTs from a handful of clients, 20 % API keys, 10 % Basic, 10 % no credential; 15 % of
the calls refused (401/403) with the challenges and error bodies real APIs send. ``requests()``
yields plain tuples, so the same mix feeds the core (``exchange``), the addon hooks (``flow``) and
wrk (``lua_requests``).
"""

from __future__ import annotations

import base64
import itertools
import random
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import jwt

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "addons"))

NOW = 1_790_000_000.0
KEY = "authlens-bench-signing-key-0123456789abcdef"
HOSTS = ("api.example.com", "graph.microsoft.com", "api.github.com", "orders.internal.test")
CLIENTS = 5

# (status, response headers, body) of the refusals: what real APIs answer.
REFUSALS = (
    (401, (("WWW-Authenticate", 'Bearer realm="api", error="invalid_token", '
                                'error_description="The access token expired"'),
           ("Content-Type", "application/json")),
     b'{"error":"invalid_token","error_description":"The access token expired"}'),
    (403, (("WWW-Authenticate", 'Bearer error="insufficient_scope", scope="orders.write"'),
           ("Content-Type", "application/json")),
     b'{"error":{"code":"Authorization_RequestDenied","message":"Insufficient privileges to '
     b'complete the operation."}}'),
    (401, (("WWW-Authenticate", 'Basic realm="admin", charset="UTF-8"'),
           ("Content-Type", "text/plain")), b"Unauthorized\n"),
    (403, (("Content-Type", "application/problem+json"),),
     b'{"type":"about:blank","title":"Forbidden","status":403,"detail":"API key not allowed"}'),
)
OK = (200, (("Content-Type", "application/json"), ("Cache-Control", "no-store")),
      b'{"items":[{"id":1,"name":"widget"}],"next":null}')


def mint(client: int, generation: int, sent: float = NOW) -> str:
    payload = {"iss": "https://login.example.com/tenant/v2.0", "aud": "api://orders",
               "sub": f"client-{client}", "azp": f"app-{client}", "scp": "orders.read",
               "iat": int(sent - 60), "exp": int(sent + 3600), "gen": generation}
    return jwt.encode(payload, KEY, algorithm="HS256")


@dataclass(frozen=True)
class Request:
    method: str
    url: str
    headers: tuple
    body: bytes
    status: int
    response_headers: tuple
    response_body: bytes
    client: str


def credential_headers(rng: random.Random, tokens: list[str]) -> tuple:
    roll = rng.random()
    if roll < 0.6:
        return (("Authorization", "Bearer " + rng.choice(tokens)),)
    if roll < 0.8:
        return (("X-API-Key", f"key-{rng.randrange(8):02d}-5f2c8e1a9b7d4c3e"),)
    if roll < 0.9:
        user = f"svc{rng.randrange(4)}:s3cret-{rng.randrange(4)}"
        return (("Authorization", "Basic " + base64.b64encode(user.encode()).decode()),)
    return ()


def stream(n: int, seed: int = 1, tokens: list[str] | None = None,
           refused: float = 0.15) -> Iterator[Request]:
    """``n`` requests of the mix (``refused``: the share of refusals); ``tokens`` defaults to one
    JWT per client."""
    rng = random.Random(seed)
    tokens = tokens or [mint(c, 0) for c in range(CLIENTS)]
    for i in range(n):
        host = rng.choice(HOSTS)
        url = f"https://{host}/v1/orders/{rng.randrange(10_000)}?expand=items"
        headers = (("Host", host), ("User-Agent", "bench/1.0"), ("Accept", "application/json"),
                   *credential_headers(rng, tokens))
        status, response_headers, body = (rng.choice(REFUSALS) if rng.random() < refused else OK)
        yield Request("GET", url, headers, b"", status, response_headers, body,
                      f"10.0.0.{i % CLIENTS}")


def requests(n: int, seed: int = 1, tokens: list[str] | None = None,
             refused: float = 0.15) -> list[Request]:
    return list(stream(n, seed, tokens, refused))


_FLOW_IDS = itertools.count(1)


def exchange(r: Request, sent: float = NOW):
    """The core's view of ``r``, with a flow id of its own (a request replayed in the next round
    is a new flow, as live traffic is; a repeated id is a replay, which trackers answer from
    memory)."""
    from authlens.model import Exchange, RequestView, ResponseView
    return Exchange(RequestView(r.method, r.url, r.headers, r.body, timestamp=sent),
                    ResponseView(r.status, r.response_headers, r.response_body,
                                 timestamp=sent + 0.01),
                    id=f"flow-{next(_FLOW_IDS)}", client=r.client)


def flow(r: Request, sent: float = NOW):
    """A mitmproxy HTTPFlow of ``r`` (what the addon's hooks receive)."""
    from mitmproxy import http
    from mitmproxy.test import tflow
    f = tflow.tflow()
    f.request = http.Request.make(r.method, r.url, r.body, _raw(r.headers))
    f.request.timestamp_start = sent
    f.response = http.Response.make(r.status, r.response_body, _raw(r.response_headers))
    f.response.timestamp_start = sent + 0.01
    f.client_conn.peername = (r.client, 40000)
    return f


def _raw(headers: tuple) -> list[tuple[bytes, bytes]]:
    return [(k.encode(), v.encode()) for k, v in headers]
