"""A token's or a client's life as the proxy saw it: issued, used N times, refreshed, expired,
rejected, revoked. Plain dicts (for JSON and tests) and text (for the command and the summary)."""

from __future__ import annotations

from collections.abc import Iterable

from ..humanize import clock
from .grants import shown
from .lifecycle import Issued, TokenLifecycle


def _event(at: float, event: str, token: str, detail: str = "", flow: str = "") -> dict:
    return {"at": at, "time": clock(at), "event": event, "token": token, "detail": detail,
            "flow": flow}


def _life(issued: Issued, now: float) -> list[dict]:
    """What happened to a token after it was issued."""
    token = shown(issued.key)
    events = []
    if issued.uses and issued.first_used is not None and issued.last_used is not None:
        times = "once" if issued.uses == 1 else f"{issued.uses} times"
        events.append(_event(issued.first_used, "used", token,
                             f"{times}, last at {clock(issued.last_used)}"))
    if issued.expires_at is not None:
        events.append(_event(issued.expires_at, "expired" if issued.expires_at <= now else
                             "expires", token, f"lifetime {issued.lifetime:.0f} s"))
    events.extend(_event(at, "rejected", token, what, flow)
                  for at, flow, what in issued.rejections)
    if issued.replaced is not None:
        at, flow, newer = issued.replaced
        events.append(_event(at, "refreshed", token, f"replaced by {shown(newer)}", flow))
    return events


def token_timeline(tracker: TokenLifecycle, key: str) -> dict | None:
    """One token's history, or None when the proxy did not see it issued."""
    issued = tracker.tokens.get(key)
    if issued is None:
        return None
    extra = ", with refresh token" if issued.with_refresh else ""
    events = [_event(issued.issued_at, "issued", shown(key),
                     f"by POST {issued.endpoint} ({issued.grant} grant{extra})", issued.flow)]
    events += _life(issued, tracker.now)
    if issued.revoked is not None:
        at, flow, what = issued.revoked
        events.append(_event(at, "revoked", shown(key), what, flow))
    return {"title": f"token {shown(key)} of client {issued.client}",
            "events": sorted(events, key=lambda e: e["at"])}


def client_timeline(tracker: TokenLifecycle, client: str) -> dict:
    """Every grant of one client and the life of each token it got."""
    events = [_event(at, event, "", detail, flow) for at, flow, event, detail in
              tracker.history.get(client, ())]
    for issued in tracker.client_tokens(client):
        events += _life(issued, tracker.now)
    return {"title": f"client {client}", "events": sorted(events, key=lambda e: e["at"])}


def for_flows(tracker: TokenLifecycle, flow_ids: Iterable[str]) -> list[dict]:
    """The timelines of the clients whose tokens these flows issued, sent or revoked."""
    clients: dict = {}
    for flow_id in flow_ids:
        for key in tracker.keys_of(flow_id):
            record = tracker.tokens.get(key) or tracker.refresh.get(key)
            if record is not None:
                clients.setdefault(record.client, None)
    return [client_timeline(tracker, client) for client in clients]


def recent(tracker: TokenLifecycle, clients: int = 5) -> list[dict]:
    """The timelines of the clients most recently seen at a token endpoint."""
    return [client_timeline(tracker, c) for c in list(tracker.history)[-clients:]]


def text(timeline: dict, limit: int | None = None) -> str:
    """``client app @127.0.0.1`` then one line per event (the last ``limit`` when given)."""
    events = timeline["events"]
    lines = [timeline["title"]]
    if limit is not None and len(events) > limit:
        lines.append(f"  … {len(events) - limit} earlier events")
        events = events[-limit:]
    for e in events:
        flow = f"  [{e['flow'][:8]}]" if e["flow"] else ""
        token = f"{e['token']} " if e["token"] else ""
        lines.append(f"  {e['time']}  {e['event']:<9} {token}{e['detail']}{flow}".rstrip())
    return "\n".join(lines)
