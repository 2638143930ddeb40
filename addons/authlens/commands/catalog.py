"""``authlens catalog``: list every finding id (``--markdown`` for README's table)."""

from __future__ import annotations

from .. import catalog


def register(subparsers) -> None:
    parser = subparsers.add_parser("catalog", help="list every finding authlens can report")
    parser.add_argument("--markdown", action="store_true", help="print README's findings table")
    parser.set_defaults(func=run)


def run(args) -> int:
    if args.markdown:
        print(catalog.markdown_table())
        return 0
    for entry in catalog.CATALOG.values():
        print(f"{entry.id:<32} {entry.severity:<8} {entry.title}")
    return 0
