"""Rules: what each API expects (credential, token audience/issuer/scopes, environments, how it
reports errors), from the user's TOML files and the shipped presets.

``schema`` is the format as data; ``loader`` validates files against it; ``matcher`` finds the rule
for a request; ``store`` keeps the rules in force and reloads them; ``checks`` are the findings."""

from .loader import RuleError, load_file, load_text
from .matcher import RuleSet
from .rule import Rule
from .store import RuleStore

__all__ = ["Rule", "RuleError", "RuleSet", "RuleStore", "load_file", "load_text"]
