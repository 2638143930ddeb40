"""``authlens catalog``: list every finding id (``--markdown`` for README's table,
``--readme PATH`` to rewrite that table in place)."""

from __future__ import annotations

import re
from pathlib import Path

from .. import catalog

_README_BLOCK = re.compile(r"(<!-- findings:start -->\n).*?(<!-- findings:end -->)", re.S)


def register(subparsers) -> None:
    parser = subparsers.add_parser("catalog", help="list every finding authlens can report")
    parser.add_argument("id", nargs="*", help="finding ids to explain in full (default: list all)")
    parser.add_argument("--markdown", action="store_true", help="print README's findings table")
    parser.add_argument("--readme", metavar="PATH", help="rewrite the findings table in PATH")
    parser.set_defaults(func=run)


def run(args) -> int:
    if args.readme:
        path = Path(args.readme)
        table = catalog.markdown_table()
        text = _README_BLOCK.sub(lambda m: f"{m.group(1)}{table}\n{m.group(2)}",
                                 path.read_text("utf-8"))
        path.write_text(text, "utf-8")
        return 0
    if args.markdown:
        print(catalog.markdown_table())
        return 0
    if args.id:
        unknown = [i for i in args.id if i not in catalog.CATALOG]
        for finding_id in args.id:
            if finding_id in catalog.CATALOG:
                print(catalog.describe(catalog.CATALOG[finding_id]))
        for finding_id in unknown:
            print(f"unknown finding id {finding_id!r}: `authlens catalog` lists them")
        return 2 if unknown else 0
    for entry in catalog.CATALOG.values():
        print(f"{entry.id:<32} {entry.severity:<8} {entry.title}")
    return 0
