"""Subcommands of ``authlens``: one module each, listed here in help order."""

COMMAND_MODULES = ["scan", "diff", "redact", "retry", "catalog", "rules"]
