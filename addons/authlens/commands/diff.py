"""``authlens diff A B``: a working and a failing request side by side, only what matters for auth.

A and B are ``FILE`` (its first flow), ``FILE#INDEX`` (0-based, as ``authlens scan`` counts) or
``FILE#ID`` (a flow id or its first characters). Both may be in the same file.
"""

from __future__ import annotations

import sys

from rich.table import Table
from rich.text import Text

from .. import capture, compare
from ..model import Exchange
from ..render import terminal


def register(subparsers) -> None:
    parser = subparsers.add_parser("diff", help="compare the auth of two flows (works vs fails)",
                                   description=__doc__.split("\n\n", 1)[1].strip())
    parser.add_argument("a", metavar="A", help="FILE, FILE#INDEX or FILE#ID")
    parser.add_argument("b", metavar="B", help="FILE, FILE#INDEX or FILE#ID")
    parser.add_argument("--all", action="store_true", help="show equal aspects too")
    parser.set_defaults(func=run)


def select(ref: str) -> Exchange:
    """The exchange ``ref`` names (raises CaptureError when there is none)."""
    path, _, which = ref.partition("#")
    which = which or "0"
    for index, exchange in enumerate(capture.exchanges(path)):
        if (which.isdigit() and index == int(which)) or (exchange.id and exchange.id.startswith(which)
                                                         and not which.isdigit()):
            return exchange
    raise capture.CaptureError(f"{path}: no flow {which!r}")


def table(rows: list[tuple[str, str, str]], a: str, b: str) -> Table:
    """The rows side by side under ``A`` and ``B``, named in the title: a long capture path as a
    column header would be cut mid-word."""
    out = Table(title=f"authlens diff\nA = {a}\nB = {b}", title_justify="left", show_lines=False)
    out.add_column("", style="bold cyan", no_wrap=True)
    out.add_column("A", overflow="fold")
    out.add_column("B", overflow="fold")
    for aspect, left, right in rows:
        style = "bold yellow" if left != right else "dim"
        out.add_row(Text(("≠ " if left != right else "  ") + aspect), Text(left, style=style),
                    Text(right, style=style))
    return out


def run(args) -> int:
    try:
        a, b = select(args.a), select(args.b)
    except (capture.CaptureError, OSError) as exc:
        print(f"authlens diff: {exc}", file=sys.stderr)
        return 2
    rows = compare.rows(a, b)
    shown = rows if args.all else [r for r in rows if r[1] != r[2] or r[0] in ("request", "verdict")]
    terminal.make_console(sys.stdout).print(table(shown, args.a, args.b))
    return 0
