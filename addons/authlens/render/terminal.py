"""Rich terminal output: one block per diagnosed flow, a summary table at the end."""

from __future__ import annotations

from functools import lru_cache
from io import StringIO
from typing import Iterable, Optional, Sequence

from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from .. import catalog
from .report import Tally
from ..oauth.timeline import text as timeline_text
from .text import headline

TIMELINE_EVENTS = 12
"""Events per client in the exit summary (the command shows them all)."""

_STYLES = {"error": "bold red", "warning": "yellow", "info": "dim"}
_ICONS = {"error": "✖", "warning": "⚠", "info": "ℹ"}
_VERDICT_STYLES = {catalog.AUTHN: "bold red", catalog.AUTHZ: "bold magenta", "unknown": "bold yellow"}


def block(diagnosis: dict) -> Panel:
    """The block for one flow: request, credential, token, what the server said, verdict, fix."""
    grid = Table.grid(padding=(0, 1))
    grid.add_column(style="bold cyan", no_wrap=True)
    grid.add_column(overflow="fold")
    for cred in diagnosis.get("credentials", []):
        scheme = f"{cred['scheme']} " if cred.get("scheme") else ""
        grid.add_row("credential", f"{cred['location']} {cred['name']}: {scheme}{cred['value']}")
    for token in diagnosis.get("tokens", []):
        grid.add_row("token", _token_text(token))
    for challenge in diagnosis.get("challenges", []):
        params = " ".join(f"{k}={v}" for k, v in challenge.get("params", {}).items())
        grid.add_row("server", Text(f"WWW-Authenticate: {challenge.get('scheme', '')} {params}"))
    for finding in diagnosis.get("findings", []):
        severity = finding["severity"]
        line = Text(f"{_ICONS[severity]} {finding['id']}  ", style=_STYLES[severity])
        line.append(finding["message"], style="default")
        grid.add_row("finding", line)
    cause = next((f for f in diagnosis.get("findings", []) if f["id"] == diagnosis.get("cause")), None)
    verdict = diagnosis.get("verdict")
    if verdict:
        lead = headline(diagnosis).split(":", 1)[0]
        if cause:
            lead += f" — {cause['title']}"
        grid.add_row("verdict", Text(lead, style=_VERDICT_STYLES.get(verdict, "bold")))
    if cause:
        grid.add_row("fix", Text(f"{cause['fix']}  ({cause['cite']})", style="green"))
    status = diagnosis.get("status")
    title = Text(f"{status or '---'} ", style="bold red" if status in (401, 403, 407) else "bold")
    title.append(f"{diagnosis['method']} {diagnosis['url']}", style="bold")
    return Panel(grid, title=title, title_align="left",
                 border_style=_VERDICT_STYLES.get(verdict or "", "yellow"))


def _token_text(token: dict) -> Text:
    text = Text(f"{token['kind']} #{token['fingerprint']}")
    if token.get("problem"):
        text.append(f"  {token['problem']}", style="red")
    times = token.get("times", {})
    for name, value in token.get("claims", {}).items():
        text.append(f"\n{name}: ", style="dim")
        text.append(str(times.get(name, value)))
    if token.get("lifetime"):
        text.append("\nlifetime: ", style="dim")
        text.append(token["lifetime"])
    return text


def summary(seen: int, diagnoses: Iterable[dict],
            timelines: Sequence[dict] = ()) -> RenderableType:
    """The end-of-session table (flows seen, flows with findings, counts per finding), then the
    token timeline of each client seen at a token endpoint (``authlens.oauth.timeline``)."""
    table = summary_table(Tally.of(seen, diagnoses))
    if not timelines:
        return table
    lines = [Text("token timelines", style="bold")]
    lines += [Text(timeline_text(t, limit=TIMELINE_EVENTS)) for t in timelines]
    return Group(table, *lines)


def summary_table(tally: Tally) -> Table:
    refusals = ", ".join(f"{n} {v}" for v, n in tally.verdicts.most_common()) or "no refusals"
    table = Table(title=f"authlens: {tally.seen} flows seen, {tally.with_findings} with findings",
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


def make_console(file=None) -> Console:
    return Console(file=file, highlight=False, soft_wrap=False)



@lru_cache(maxsize=4)
def _capturing_console(width: int, color_system: Optional[str]) -> Console:
    return Console(file=StringIO(), width=width, color_system=color_system,
                   force_terminal=color_system is not None, highlight=False, soft_wrap=False)


def render_block(diagnosis: dict, width: int = 100, color_system: Optional[str] = None) -> str:
    """``block`` as the text a console of this width and colour system would print (so worker
    processes can render and the main one only writes)."""
    console = _capturing_console(width, color_system)
    with console.capture() as captured:
        console.print(block(diagnosis))
    return captured.get()
