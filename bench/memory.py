"""Memory of a long session: RSS while 1 000 000 flows with 10 000 distinct tokens go through
authlens' mitmproxy hooks in-process (as mitmdump runs them, without the network).

    .venv/bin/python bench/memory.py [--flows 1000000] [--tokens 10000]

Prints RSS every 100 000 flows and the growth after warm-up (the first 100 000 flows fill the
caches and bounded tables); the goal is growth <= 50 MiB in all, flat after warm-up.
"""

from __future__ import annotations

import argparse
import gc
import os
import time

import traffic  # noqa: E402 - also puts addons/ on sys.path


def rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--flows", type=int, default=1_000_000)
    parser.add_argument("--tokens", type=int, default=10_000)
    parser.add_argument("--every", type=int, default=100_000)
    args = parser.parse_args()
    from mitmproxy.test import taddons

    from authlens.mitm.addon import make_addons

    tokens = [traffic.mint(i % traffic.CLIENTS, i) for i in range(args.tokens)]
    authlens, = make_addons()
    hooks = [authlens.response]
    gc.collect()
    start, marks = rss_mib(), []
    began = time.monotonic()
    with taddons.context(authlens) as tctx:
        tctx.configure(authlens, authlens_output="off")
        for i, request in enumerate(traffic.stream(args.flows, seed=7, tokens=tokens), 1):
            flow = traffic.flow(request, sent=traffic.NOW + i * 0.01)
            for hook in hooks:
                hook(flow)
            if i % args.every == 0:
                gc.collect()
                marks.append(rss_mib())
                print(f"{i:>9} flows  RSS {marks[-1]:7.1f} MiB  (+{marks[-1] - start:.1f})  "
                      f"{time.monotonic() - began:6.0f} s", flush=True)
    print(f"start {start:.1f} MiB; growth {marks[-1] - start:.1f} MiB over {args.flows} flows "
          f"({args.tokens} tokens); after warm-up (first mark) {marks[-1] - marks[0]:+.1f} MiB")


if __name__ == "__main__":
    main()
