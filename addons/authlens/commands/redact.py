"""``authlens redact IN OUT``: a copy of a .flow/HAR capture that is safe to attach to a bug report.

Every credential, cookie, token, password, client secret and API key becomes
``REDACTED-<fingerprint>`` (the same secret, the same placeholder). JWTs keep header and payload
(claims stay readable and diagnosable) and lose their signature. Diagnoses on the copy stay the
same wherever they do not need the secret itself.
"""

from __future__ import annotations

import sys

from .. import capture, humanize
from ..capture import redaction


def register(subparsers) -> None:
    parser = subparsers.add_parser("redact", help="write a copy of a capture with every secret "
                                   "replaced by a consistent fingerprint",
                                   description=__doc__.split("\n\n", 1)[1].strip())
    parser.add_argument("source", metavar="IN", help=".flow or .har file")
    parser.add_argument("target", metavar="OUT", help="where to write the redacted copy")
    parser.set_defaults(func=run)


def run(args) -> int:
    redactor = redaction.Redactor()
    try:
        write = (redaction.redact_har_file if capture.kind(args.source) == "har"
                 else redaction.redact_flow_file)
        count = write(args.source, args.target, redactor)
    except (OSError, ValueError) as exc:
        print(f"authlens redact: {exc}", file=sys.stderr)
        return 2
    print(f"authlens: {humanize.count(count, 'flow')} written to {args.target}, "
          f"{len(set(redactor.known.values()))} distinct secrets replaced", file=sys.stderr)
    return 0
