"""``authlens rules``: check rule files, explain which rule applies to a URL, print the format."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

from ..rules import RuleStore
from ..rules.schema import annotated_example
from ..rules.store import default_paths

_README_BLOCK = re.compile(r"(<!-- rules-example:start -->\n```toml\n).*?(```\n<!-- rules-example:end -->)", re.S)


def register(subparsers) -> None:
    parser = subparsers.add_parser("rules", help="check rule files, explain which rule applies")
    commands = parser.add_subparsers(dest="rules_command", metavar="ACTION", required=True)

    check = commands.add_parser("check", help="validate rule files, show what each host resolves to")
    check.add_argument("paths", nargs="*", metavar="PATH", help="files or folders (default: rules/)")
    check.add_argument("--no-presets", action="store_true", help="leave the shipped presets out")
    check.set_defaults(func=run_check)

    explain = commands.add_parser("explain", help="which rule applies to a URL, and why")
    explain.add_argument("url")
    explain.add_argument("-X", "--method", default="GET")
    explain.add_argument("--rules", nargs="*", default=None, metavar="PATH",
                         help="files or folders (default: rules/)")
    explain.add_argument("--no-presets", action="store_true", help="leave the shipped presets out")
    explain.set_defaults(func=run_explain)

    schema = commands.add_parser("schema", help="print the annotated rule file example")
    schema.add_argument("--readme", metavar="PATH", help="rewrite the example in PATH")
    schema.set_defaults(func=run_schema)


def _store(paths, no_presets: bool) -> RuleStore:
    store = RuleStore(paths or default_paths(), presets=not no_presets)
    store.reload()
    return store


def run_check(args) -> int:
    store = _store(args.paths, args.no_presets)
    for error in store.errors:
        print(f"error: {error}")
    for rule in store.ruleset.rules:
        scope = " ".join(filter(None, [" ".join(rule.methods), " ".join(rule.paths)]))
        print(f"{rule.name} [{rule.origin} {rule.where}]{' ' + scope if scope else ''}")
        for host in rule.hosts:
            winner = store.ruleset.match(host.replace("*", "x"), rule.paths[0] if rule.paths else "/",
                                         rule.methods[0] if rule.methods else "GET")
            note = "" if winner is rule or winner is None else f"  (overridden by {winner.name}, {winner.where})"
            print(f"  {host}{note}")
    print(f"{len(store.ruleset)} rules in force, {len(store.errors)} errors")
    return 1 if store.errors else 0


def run_explain(args) -> int:
    store = _store(args.rules, args.no_presets)
    for error in store.errors:
        print(f"error: {error}")
    parts = urlsplit(args.url)
    host = (parts.hostname or "").lower()
    path = parts.path or "/"
    winner, reasons = store.ruleset.explain(host, path, args.method.upper())
    shown = parts.netloc.rpartition("@")[2].lower() or host  # the port stays; no user-info
    print(f"{args.method.upper()} {shown}{path}")
    if not reasons:
        print("  no rule names this host: judged by the standards only")
    for rule, reason in reasons:
        mark = "->" if rule is winner else "  "
        print(f"{mark} {rule.name} [{rule.origin} {rule.where}]: {reason}")
    if winner is not None:
        print(f"applies: {winner.name}" + (f"; expects {', '.join(c.describe() for c in winner.credentials)}"
                                          if winner.credentials else ""))
    return 0 if winner is not None else 1


def run_schema(args) -> int:
    example = annotated_example()
    if args.readme:
        path = Path(args.readme)
        text, count = _README_BLOCK.subn(lambda m: f"{m.group(1)}{example}{m.group(2)}",
                                         path.read_text("utf-8"))
        if not count:
            print(f"{path}: no <!-- rules-example:start --> block")
            return 1
        path.write_text(text, "utf-8")
        return 0
    print(example, end="")
    return 0
