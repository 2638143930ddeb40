"""Per-flow cost of authlens on the realistic mix (``traffic.py``), in microseconds.

    .venv/bin/python bench/core.py [--flows 20000] [--rounds 5]

Three things are timed per flow, interleaved round by round so machine load hits them alike:
``core`` (``Analyzer.analyze`` with the trackers and the shipped presets, as the addon runs it),
``hooks`` (every authlens hook mitmproxy calls on a finished flow: adapter, core, metadata,
comment, marker, session log) and, for scale, ``jwt`` (one uncached pyjwt decode of the token).
Prints median and p99 per kind of flow and overall; the goal is a core median <= 15 µs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import jwt
import traffic

from authlens.analyze import Analyzer, Settings, default_trackers
from authlens.rules import RuleStore


def analyzer() -> Analyzer:
    store = RuleStore([], presets=True)
    store.reload()
    return Analyzer(Settings(rules=store.ruleset), trackers=default_trackers())


def kind(r: traffic.Request) -> str:
    names = {k.lower(): v for k, v in r.headers}
    auth = names.get("authorization", "")
    what = ("jwt" if auth.startswith("Bearer") else "basic" if auth else
            "apikey" if "x-api-key" in names else "none")
    return f"{what} {'refused' if r.status >= 400 else 'ok'}"


def time_core(az: Analyzer, exchanges) -> list[int]:
    out = []
    clock = time.perf_counter_ns
    for ex in exchanges:
        start = clock()
        az.analyze(ex)
        out.append(clock() - start)
    return out


def time_hooks(addons, flows) -> list[int]:
    from mitmproxy.test import taddons
    hooks = [a.response for a in addons]
    out = []
    clock = time.perf_counter_ns
    with taddons.context(*addons) as tctx:
        tctx.configure(addons[0], authlens_output="off")
        for f in flows:
            start = clock()
            for hook in hooks:
                hook(f)
            out.append(clock() - start)
    return out


def time_jwt(tokens) -> list[int]:
    out = []
    clock = time.perf_counter_ns
    for token in tokens:
        start = clock()
        jwt.decode_complete(token, options={"verify_signature": False})
        out.append(clock() - start)
    return out


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def line(label: str, ns: list[int]) -> str:
    us = [v / 1000 for v in ns]
    return (f"  {label:<16} n={len(us):>7}  median {statistics.median(us):7.2f} µs   "
            f"p99 {pct(us, 0.99):8.2f} µs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--flows", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    from authlens.mitm.addon import make_addons

    mix = traffic.requests(args.flows)
    tokens = [traffic.mint(c, g) for c in range(traffic.CLIENTS) for g in range(200)]
    az = analyzer()
    time_core(az, [traffic.exchange(r) for r in mix[:2000]])  # warm caches, as a running proxy has
    core: list[int] = []
    hooks: list[int] = []
    decode: list[int] = []
    for _ in range(args.rounds):  # A/B/C interleaved
        # fresh views each round: a live flow's view is new, nothing parsed on it yet
        core += time_core(az, [traffic.exchange(r) for r in mix])
        hooks += time_hooks(make_addons(), [traffic.flow(r) for r in mix[:args.flows // 4]])
        decode += time_jwt(tokens)
    by_kind: dict[str, list[int]] = {}
    for r, ns in zip(mix * args.rounds, core, strict=False):
        by_kind.setdefault(kind(r), []).append(ns)
    print(f"authlens core, {args.flows} flows x {args.rounds} rounds; "
          f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    for label in sorted(by_kind):
        print(line(label, by_kind[label]))
    print(line("core (all)", core))
    print(line("addon hooks", hooks))
    print(line("pyjwt decode", decode))
    print(f"core median / one JWT decode: "
          f"{statistics.median(core) / statistics.median(decode):.2f}")


if __name__ == "__main__":
    main()
