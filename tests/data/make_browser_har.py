"""How ``browser_export.har`` was made: a capture converted to what Chrome DevTools exports.

    cat captures/healthy.flow captures/expired_token.flow captures/api_key_in_query.flow > /tmp/s.flow
    mitmdump -q -nr /tmp/s.flow --set hardump=/tmp/s.har
    python3 tests/data/make_browser_har.py /tmp/s.har tests/data/browser_export.har

mitmproxy writes the HAR; this script gives it a browser's shape: creator ``WebInspector``,
HTTP/2 with ``:method``/``:authority``/``:scheme``/``:path`` pseudo-headers and lowercase names
among the headers, ``startedDateTime`` in UTC with ``Z``, and DevTools' ``_resourceType``.
"""

import json
import sys
from datetime import UTC, datetime
from urllib.parse import urlsplit


def browserize(har: dict) -> dict:
    har["log"]["creator"] = {"name": "WebInspector", "version": "537.36"}
    for entry in har["log"]["entries"]:
        request = entry["request"]
        url = urlsplit(request["url"])
        request["httpVersion"] = entry["response"]["httpVersion"] = "http/2.0"
        pseudo = [(":method", request["method"]), (":authority", url.netloc),
                  (":scheme", url.scheme), (":path", url.path + (f"?{url.query}" if url.query else ""))]
        request["headers"] = [{"name": n, "value": v} for n, v in pseudo] + [
            {"name": h["name"].lower(), "value": h["value"]} for h in request["headers"]
            if h["name"].lower() not in ("host", "connection")]
        started = datetime.fromisoformat(entry["startedDateTime"]).astimezone(UTC)
        entry["startedDateTime"] = started.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        entry["_resourceType"] = "fetch"
    return har


if __name__ == "__main__":
    with open(sys.argv[1], encoding="utf-8") as src:
        har = browserize(json.load(src))
    with open(sys.argv[2], "w", encoding="utf-8") as out:
        json.dump(har, out, indent=2)
