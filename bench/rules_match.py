"""Per-request cost of finding the rule for a request, with 500 user rules plus the presets loaded.

    python3 bench/rules_match.py

Rules mix exact hosts, *.suffix globs, other globs, path prefixes and methods; requests mix hosts
that hit each kind and hosts no rule names, with varying paths (ids), as real traffic does.
"""

import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "addons"))

from authlens.rules import RuleSet, load_text  # noqa: E402
from authlens.rules.loader import load_presets  # noqa: E402


def rules_text(n: int) -> str:
    out = []
    for i in range(n):
        kind = i % 5
        host = (f"api{i}.example.com", f"*.svc{i}.example.net", f"api-{i}-*.example.org",
                f"api{i}.example.com", f"api{i}.example.com")[kind]
        out.append(f'[[rule]]\nname = "r{i}"\nhosts = ["{host}"]\n')
        if kind == 3:
            out.append('paths = ["/v2/", "/beta/"]\n')
        if kind == 4:
            out.append('methods = ["POST"]\n')
    return "".join(out)


def main(n_rules: int = 500, n_requests: int = 200_000) -> None:
    loaded = load_text(rules_text(n_rules), "bench.toml")
    assert not loaded.errors
    rules = RuleSet([*loaded.rules, *(r for f in load_presets() for r in f.rules)])
    rng = random.Random(1)
    hosts = [f"api{i}.example.com" for i in range(0, n_rules, 5)] + \
            [f"x.svc{i}.example.net" for i in range(1, n_rules, 5)] + \
            [f"api-{i}-eu.example.org" for i in range(2, n_rules, 5)] + \
            ["graph.microsoft.com", "contoso.sharepoint.com", "api.github.com", "unknown.example"] * 20
    requests = [(rng.choice(hosts), f"/v{rng.randint(1, 2)}/items/{rng.randint(0, 10**6)}",
                 rng.choice(("GET", "POST"))) for _ in range(n_requests)]
    matched = sum(rules.match(*r) is not None for r in requests[:1000])  # warm the host cache
    start = time.perf_counter()
    for host, path, method in requests:
        rules.match(host, path, method)
    elapsed = time.perf_counter() - start
    print(f"{len(rules)} rules, {n_requests} requests ({len(set(hosts))} hosts, "
          f"{matched / 10:.0f}% matched): {elapsed / n_requests * 1e6:.2f} µs per request")


if __name__ == "__main__":
    main()
