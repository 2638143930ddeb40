"""The long fuzz campaign: every parser fed by atheris (libFuzzer, coverage-guided), then the
hypothesis properties of tests/test_fuzz.py with many more examples.

    .venv/bin/python bench/fuzz.py [--runs 100000] [--examples 20000] [--only NAME]

Each atheris target runs in its own process for ``--runs`` inputs; a crash stops the target and
prints the input. ``--examples`` > 0 then runs the hypothesis properties with that many examples
each (``AUTHLENS_FUZZ_EXAMPLES``). The first part needs atheris (``pip install -e '.[bench]'``);
without it, it is skipped with a note.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import traffic  # noqa: F401 - puts addons/ on sys.path

ROOT = Path(__file__).resolve().parents[1]
TARGETS = ("authorization", "www-authenticate", "jwt", "json-body", "form-body", "rule-file",
           "set-cookie", "redact-body")
REDACT_TYPES = ("application/json", "application/x-www-form-urlencoded", "text/xml",
                "multipart/form-data; boundary=b")


def target(name: str):
    """``fuzz(data: bytes)`` for one parser: the input goes where that parser reads it."""
    from core import analyzer

    from authlens import challenge, cookies
    from authlens.model import Exchange, RequestView, ResponseView
    from authlens.rules import load_text
    from authlens.secrecy import Redactor
    az = analyzer()

    def analyze(request=(), response=(), code=401, body=b"", answer=b"", method="GET",
                url="https://graph.microsoft.com/v1.0/me"):
        az.analyze(Exchange(RequestView(method, url, tuple(request), body, timestamp=1.79e9),
                            ResponseView(code, tuple(response), answer, timestamp=1.79e9),
                            id="fuzz", client="10.0.0.1")).to_dict()

    def text(data: bytes) -> str:
        return data.decode("utf-8", "surrogateescape")

    def redact(data: bytes) -> None:  # the redact command: every body format, a Link header
        redactor = Redactor()
        for content_type in REDACT_TYPES:
            redactor.body(text(data), content_type)
        redactor.header("Link", text(data))

    return {
        "authorization": lambda d: analyze([("Authorization", text(d))]),
        "www-authenticate": lambda d: (challenge.parse_challenge_header(text(d)),
                                       analyze([("Authorization", "Bearer x")],
                                               [("WWW-Authenticate", text(d))])),
        "jwt": lambda d: analyze([("Authorization", "Bearer eyJ" + text(d))]),
        "json-body": lambda d: analyze([], [("Content-Type", "application/json")], answer=d),
        "form-body": lambda d: analyze(
            [("Content-Type", "application/x-www-form-urlencoded")],
            [("Content-Type", "application/json")], code=400, body=d, answer=d, method="POST",
            url="https://login.microsoftonline.com/common/oauth2/v2.0/token"),
        "rule-file": lambda d: load_text(text(d), "fuzz.toml"),
        "set-cookie": lambda d: cookies.parse_set_cookie(
            text(d), RequestView("GET", "https://a.example.com/x/y", ()), 1.79e9),
        "redact-body": redact,
    }[name]


def run_atheris(name: str, runs: int) -> None:
    import atheris
    fuzz = target(name)
    atheris.Setup([sys.argv[0], f"-runs={runs}", "-max_len=4096", "-print_final_stats=1"], fuzz)
    atheris.Fuzz()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--examples", type=int, default=0)
    parser.add_argument("--only", choices=TARGETS)
    parser.add_argument("--child", choices=TARGETS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_atheris(args.child, args.runs)
        return
    failed = False
    try:
        import atheris  # noqa: F401
        names = [args.only] if args.only else TARGETS
    except ImportError:
        print("atheris is not installed (pip install -e '.[bench]'): coverage-guided part skipped")
        names = []
    for name in names:
        start = time.monotonic()
        done = subprocess.run([sys.executable, __file__, "--child", name, "--runs", str(args.runs)],
                              capture_output=True, text=True)
        stats = [line for line in done.stderr.splitlines() if "stat::number_of_executed_units" in line]
        execs = stats[-1].split(":")[-1].strip() if stats else "?"
        ok = done.returncode == 0
        failed |= not ok
        print(f"atheris {name:<17} {execs:>8} inputs  {time.monotonic() - start:6.0f} s  "
              f"{'ok' if ok else 'FAILED'}", flush=True)
        if not ok:
            print(done.stderr[-3000:])
    if args.examples:
        start = time.monotonic()
        env = {**os.environ, "AUTHLENS_FUZZ_EXAMPLES": str(args.examples)}
        done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                               "tests/test_fuzz.py", "-k", "not megabyte"], cwd=ROOT, env=env)
        failed |= done.returncode != 0
        print(f"hypothesis: {args.examples} examples per property, "
              f"{time.monotonic() - start:.0f} s", flush=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
