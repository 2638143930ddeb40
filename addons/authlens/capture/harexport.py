"""HAR 1.2 files that carry authlens's diagnoses, so they survive the capture leaving mitmproxy.

mitmproxy's own ``SaveHar.make_har`` builds the entries; each one whose flow has a diagnosis then
gets it twice: as the entry ``comment`` (verdict, cause, fix: what a HAR viewer shows) and as a
custom ``_authlens`` object (the structured result, read back by ``authlens scan``). The file is
redacted by ``capture.redaction`` unless the user asked to reveal secrets.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

from mitmproxy import http
from mitmproxy import io as mitm_io
from mitmproxy.addons.savehar import SaveHar

from ..render import text
from . import redaction

KEY = "_authlens"
"""The custom field (HAR 1.2 §"Custom fields": names start with an underscore)."""


def entry_comment(diagnosis: dict) -> str:
    """The entry comment: the flow comment authlens writes (verdict, cause, fix, others)."""
    return text.comment(diagnosis)


def make_har(flows: Sequence[http.HTTPFlow], diagnosis_of: Callable[[int, http.HTTPFlow], dict | None],
             reveal: bool = False) -> str:
    """The HAR text of ``flows``; ``diagnosis_of(index, flow)`` gives each one's diagnosis (or
    None). Redacted unless ``reveal``."""
    flows = [f for f in flows if isinstance(f, http.HTTPFlow)]
    har = SaveHar().make_har(flows)
    har["log"]["creator"]["comment"] = "entries annotated by authlens (comment and _authlens)"
    for index, (flow, entry) in enumerate(zip(flows, har["log"]["entries"], strict=True)):
        diagnosis = diagnosis_of(index, flow)
        if diagnosis:
            entry["comment"] = entry_comment(diagnosis)
            entry[KEY] = diagnosis
    if reveal:
        return json.dumps(har, indent=2, ensure_ascii=False)
    return redaction.redact_har(har, redaction.Redactor())


def write(path: str, har_text: str) -> None:
    with open(path, "w", encoding="utf-8") as out:
        out.write(har_text + "\n")


def read_flows(path: str) -> list[http.HTTPFlow]:
    """The HTTP flows of a ``.flow`` or HAR file, read by mitmproxy's own reader."""
    with open(path, "rb") as fo:
        return [f for f in mitm_io.FlowReader(fo).stream() if isinstance(f, http.HTTPFlow)]


def stored(har: dict) -> list[dict | None]:
    """The diagnosis stored in each entry of a HAR document (None where there is none)."""
    out: list[dict | None] = []
    for entry in har.get("log", {}).get("entries", []):
        value = entry.get(KEY) if isinstance(entry, dict) else None
        out.append(value if isinstance(value, dict) else None)
    return out


def compare(fresh: dict | None, kept: dict | None) -> dict:
    """What ``authlens scan`` says of a stored diagnosis beside a fresh one."""
    def key(d: dict | None) -> tuple:
        return (d or {}).get("verdict"), (d or {}).get("cause")
    return {"verdict": (kept or {}).get("verdict"), "cause": (kept or {}).get("cause"),
            "differs": key(fresh) != key(kept)}


def stored_line(comparison: dict) -> str:
    """``stored in the HAR: authentication (credential-quoted), same as now``."""
    what = (f"{comparison['verdict']} ({comparison['cause'] or 'no cause'})"
            if comparison["verdict"] else "no refusal")
    return f"stored in the HAR: {what}, {'DIFFERS from' if comparison['differs'] else 'same as'} now"

