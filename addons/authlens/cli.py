"""The ``authlens`` command. Each subcommand lives in ``authlens.commands.<name>`` and registers
itself with ``register(subparsers)``, setting ``func(args) -> exit code``."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from . import __version__
from .commands import COMMAND_MODULES


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="authlens", description="Tell why an API call was refused (401/403 diagnosis).")
    parser.add_argument("--version", action="version", version=f"authlens {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"authlens.commands.{name}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        status = args.func(args)
        sys.stdout.flush()
        return status
    except BrokenPipeError:  # `authlens catalog | head`: the reader has all it wanted
        _silence_stdout()
        return EXIT_PIPE


EXIT_PIPE = 141
"""128 + SIGPIPE, what a command killed by a closed pipe exits with."""


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's final flush does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is no real file (tests capture it)
        pass


if __name__ == "__main__":
    sys.exit(main())
