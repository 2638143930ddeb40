"""WWW-Authenticate parsing and the response-side checks."""
from dataclasses import dataclass, field

CHECKS = ()


@dataclass
class ParsedChallenges:
    challenges: list = field(default_factory=list)
    errors: list = field(default_factory=list)


def parse_response_challenges(response):
    return ParsedChallenges()
