"""Rich terminal output: one block per diagnosed flow, a summary table at the end."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from rich.cells import cell_len, chop_cells, set_cell_size
from rich.console import COLOR_SYSTEMS, Console, Group, RenderableType
from rich.style import Style
from rich.table import Table
from rich.text import Text

from .. import catalog
from ..caching import Memo
from ..humanize import count
from ..oauth.timeline import text as timeline_text
from .report import Tally
from .text import credential_text, headline

TIMELINE_EVENTS = 12
"""Events per client in the exit summary (the command shows them all)."""

_STYLES = {"error": "bold red", "warning": "yellow", "info": "dim"}
_ICONS = {"error": "✖", "warning": "⚠", "info": "ℹ"}
_VERDICT_STYLES: dict[str, str] = {catalog.AUTHN: "bold red", catalog.AUTHZ: "bold magenta",
                                    catalog.UNKNOWN: "bold yellow"}


def summary(tally: Tally, timelines: Sequence[dict] = ()) -> RenderableType:
    """The end-of-session table (flows seen, flows with findings, counts per finding), then the
    token timeline of each client seen at a token endpoint (``authlens.oauth.timeline``)."""
    table = summary_table(tally)
    if not timelines:
        return table
    lines = [Text("token timelines", style="bold")]
    lines += [Text(timeline_text(t, limit=TIMELINE_EVENTS)) for t in timelines]
    return Group(table, *lines)


def summary_table(tally: Tally) -> Table:
    refusals = ", ".join(f"{n} {v}" for v, n in tally.verdicts.most_common()) or "no refusals"
    table = Table(title=f"authlens: {count(tally.seen, 'flow')} seen, {tally.with_findings} with findings",
                  caption=refusals, title_justify="left", caption_justify="left")
    table.add_column("finding", style="cyan")
    table.add_column("flows", justify="right")
    table.add_column("severity")
    table.add_column("title")
    for finding_id, n in tally.counts.most_common():
        entry = catalog.get(finding_id)
        table.add_row(finding_id, str(n), Text(entry.severity, style=_STYLES[entry.severity]),
                      entry.title)
    return table


@dataclass(frozen=True)
class Output:
    """How diagnoses reach the terminal: ``style`` (rich, json, log, off) and, for rich, the
    console's width and colour system (``Console.color_system``)."""

    style: str = "off"
    width: int = 100
    color_system: str | None = None

    def text(self, diagnosis: dict) -> str | None:
        """What this output writes to stdout for a diagnosis: its rich block or its JSON line
        (None for log lines, which go through logging, and for off)."""
        if self.style == "rich":
            return render_block(diagnosis, self.width, self.color_system)
        if self.style == "json":
            return json.dumps(diagnosis, ensure_ascii=False) + "\n"
        return None


def make_console(file=None) -> Console:
    return Console(file=file, highlight=False, soft_wrap=False)


def render_block(diagnosis: dict, width: int = 100, color_system: str | None = None,
                 capture: bool = False) -> str:
    """The block for one flow (request, credential, token, what the server said, verdict, fix) as
    the text a console of this width and colour system (``Console.color_system``) prints.

    Laid out here rather than by rich's ``Panel``/``Table``: those cost ~2–5 ms a block, which in
    mitmdump is paid on the proxy's own thread for every refusal; this costs ~0.2 ms and looks
    the same. Styles are still rich's."""
    system = COLOR_SYSTEMS.get(color_system) if color_system else None
    verdict = diagnosis.get("verdict")
    border = _VERDICT_STYLES.get(verdict or "", "yellow")
    rows = _rows(diagnosis, capture)
    label_width = max((len(label) for label, _ in rows), default=0)
    value_width = max(width - 5 - label_width, 8)
    out = [_top(diagnosis, label_width + value_width + 5, border, system)]
    for label, lines in rows:
        for spans in lines:
            out.extend(_row[label, tuple(spans), label_width, value_width, border, system])
            label = ""
    out.append(_paint(f"╰{'─' * (label_width + value_width + 3)}╯", border, system))
    return "\n".join(out) + "\n"


def _render_row(label: str, spans: tuple[Span, ...], label_width: int, value_width: int,
                border: str, system) -> tuple[str, ...]:
    """The printed lines of one row's line of spans, wrapped to ``value_width``."""
    side = _paint("│", border, system)
    lines = []
    for piece in _wrap(list(spans), value_width):
        used = sum(_cells(text) for text, _ in piece)
        lines.append(f"{side} {_paint(label.ljust(label_width), 'bold cyan', system)} "
                     f"{''.join(_paint(text, style, system) for text, style in piece)}"
                     f"{' ' * (value_width - used)} {side}")
        label = ""
    return tuple(lines)


_row = Memo(_render_row, 1024, 1024)
"""Rows repeat from flow to flow (the same fix, challenge, finding): each is laid out once."""


Span = tuple[str, str]
"""A piece of text and its rich style ("" for none)."""


def _rows(diagnosis: dict, capture: bool = False) -> list[tuple[str, list[list[Span]]]]:
    """(label, lines of styled spans) for each row of the block; ``capture``: name the file the
    flow is in (a scan of several)."""
    rows: list[tuple[str, list[list[Span]]]] = []

    def add(label: str, *spans: Span) -> None:
        rows.append((label, _lines(spans)))

    if capture and diagnosis.get("capture"):
        add("capture", (str(diagnosis["capture"]), "dim"))

    for cred in diagnosis.get("credentials", []):
        add("credential", (f"{cred['location']} {cred['name']}: {credential_text(cred)}", ""))
    for token in diagnosis.get("tokens", []):
        add("token", *_token_spans(token))
    for challenge in diagnosis.get("challenges", []):
        params = " ".join(f"{k}={v}" for k, v in challenge.get("params", {}).items())
        add("server", (f"WWW-Authenticate: {challenge.get('scheme', '')} {params}", ""))
    findings = diagnosis.get("findings", [])
    for finding in findings:
        severity = finding["severity"]
        add("finding", (f"{_ICONS[severity]} {finding['id']}  ", _STYLES[severity]),
            (finding["message"], ""))
    cause = next((f for f in findings if f["id"] == diagnosis.get("cause")), None)
    verdict = diagnosis.get("verdict")
    if verdict:
        lead = headline(diagnosis).split(":", 1)[0]
        if cause:
            lead += f" — {cause['title']}"
        add("verdict", (lead, _VERDICT_STYLES.get(verdict, "bold")))
    if cause:
        add("fix", (f"{cause['fix']}  ({cause['cite']})", "green"))
    return rows


def _token_spans(token: dict) -> list[Span]:
    spans = [(f"{token['kind']} #{token['fingerprint']}", "")]
    if token.get("problem"):
        spans.append((f"  {token['problem']}", "red"))
    times = token.get("times", {})
    for name, value in token.get("claims", {}).items():
        spans += [(f"\n{name}: ", "dim"), (str(times.get(name, value)), "")]
    if token.get("lifetime"):
        spans += [("\nlifetime: ", "dim"), (token["lifetime"], "")]
    return spans


def _lines(spans: Iterable[Span]) -> list[list[Span]]:
    """Split styled spans at newlines; control characters (a client's raw bytes can reach a
    message) are shown escaped, never sent to the terminal."""
    lines: list[list[Span]] = [[]]
    for text, style in spans:
        for i, part in enumerate(text.split("\n")):
            if i:
                lines.append([])
            if part:
                lines[-1].append((_visible(part), style))
    return lines


def _wrap(spans: list[Span], width: int) -> Iterator[list[Span]]:
    """The spans of each line of ``spans`` wrapped at ``width`` cells (at spaces; a word longer
    than a line is folded), without trailing spaces."""
    plain = "".join(text for text, _ in spans)
    if _cells(plain) <= width:
        yield spans
        return
    for start, end in _breaks(plain, width):
        piece, offset = [], 0
        for text, style in spans:
            lo, hi = max(start - offset, 0), min(end - offset, len(text))
            if lo < hi:
                piece.append((text[lo:hi], style))
            offset += len(text)
        if piece:
            piece[-1] = (piece[-1][0].rstrip(" "), piece[-1][1])
        yield piece


_WORD = re.compile(r"\S+ *")


def _cells(text: str) -> int:
    """``cell_len``; an ASCII text (control characters are escaped before) is one cell a char."""
    return len(text) if text.isascii() else cell_len(text)


def _breaks(text: str, width: int) -> list[tuple[int, int]]:
    """(start, end) offsets of the lines of ``text`` wrapped at ``width`` cells."""
    return _ascii_breaks(text, width) if text.isascii() else _cell_breaks(text, width)


def _cell_breaks(text: str, width: int) -> list[tuple[int, int]]:
    """``_breaks`` counting the cells of each character (wide CJK, combining marks)."""
    lines = []
    start = column = 0
    for match in _WORD.finditer(text):
        pos, word = match.start(), match.group().rstrip(" ")
        size = cell_len(word)
        if column and column + size > width:
            lines.append((start, pos))
            start, column = pos, 0
        while size > width:  # column is 0 here
            head = chop_cells(word, width)[0]
            lines.append((pos, pos + len(head)))
            pos, word = pos + len(head), word[len(head):]
            start, size = pos, cell_len(word)
        column += cell_len(text[pos:match.end()])
    lines.append((start, len(text)))
    return lines


def _ascii_breaks(text: str, width: int) -> list[tuple[int, int]]:
    """``_breaks`` where a character is a cell."""
    lines = []
    start = column = 0
    for match in _WORD.finditer(text):
        pos, end = match.start(), match.end()
        size = len(match.group().rstrip(" "))
        if column and column + size > width:
            lines.append((start, pos))
            start, column = pos, 0
        while size > width:  # column is 0 here
            lines.append((pos, pos + width))
            pos += width
            start, size = pos, size - width
        column += end - pos
    lines.append((start, len(text)))
    return lines


def _top(diagnosis: dict, width: int, border: str, system) -> str:
    """``╭─ 401 GET https://… ───╮``: the title cut with an ellipsis when it does not fit."""
    status = diagnosis.get("status")
    head = f"{status or '---'} "
    title = _visible(f"{diagnosis['method']} {diagnosis['url']}")
    room = width - 6 - len(head)
    if cell_len(title) > room:
        title = set_cell_size(title, max(room - 1, 0)) + "…"
    fill = width - 5 - len(head) - cell_len(title)
    return (_paint("╭─", border, system) + " "
            + _paint(head, "bold red" if status in (401, 403, 407) else "bold", system)
            + _paint(title, "bold", system) + " " + _paint(f"{'─' * fill}╮", border, system))


def _paint(text: str, style: str, system) -> str:
    return _style(style).render(text, color_system=system) if style and system else text


_style = Memo(Style.parse, 64, 64).__getitem__


_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f]")


def _visible(text: str) -> str:
    if text.isprintable():  # no control character (the regex is then a waste)
        return text
    return _CONTROLS.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
