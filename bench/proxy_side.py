"""What authlens costs the proxy's own thread per live flow, measured without mitmproxy around it.

``live.py`` measures the whole proxy, where this machine's drift between runs (±3 %) is as large
as the goal's margin. This measures only what authlens adds to the proxy's process: an asyncio
loop paced like mitmdump under load (two flows per loop iteration, 1.6 ms apart) hands the
realistic mix's flows (``traffic.py``, 15 % refused) to ``AuthLens.response``, which sends them
to its real analysis process and applies what comes back, with rich output to /dev/null as in
mitmdump. The control arm runs the same loop without authlens. Each run is a fresh process, the
arms alternate, and the figure is this process's CPU time (user + system) per flow; the
analysis process runs on another core and is not counted.

    .venv/bin/python bench/proxy_side.py [--flows 12000] [--rounds 4] [--compare DIR]

``--compare DIR`` adds an arm with the authlens package of another checkout (say a
``git worktree`` of an earlier commit), for A/B tests of the proxy's side.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PER_ITERATION = 2
PACE = 0.0016
"""Seconds between loop iterations: ~0.8 ms per flow, what mitmdump itself spends on one here."""


async def measure(flows: int, with_authlens: bool) -> float:
    """CPU µs of this process per flow over ``flows`` flows."""
    import traffic  # after authlens: it puts this checkout's package first on the path
    from mitmproxy.test import taddons

    from authlens.mitm.addon import AuthLens

    tokens = [traffic.mint(c, 0, sent=time.time()) for c in range(traffic.CLIENTS)]
    mix = [traffic.flow(r, sent=time.time()) for r in traffic.requests(500, tokens=tokens)]
    batch = [f.copy() for _ in range(flows // len(mix) + 1) for f in mix][:flows]  # fresh ids
    addon = AuthLens()
    with taddons.context(addon) as tctx:
        tctx.configure(addon, authlens_output="rich")
        addon.running()
        assert addon.diagnose.worker is not None, "no analysis process"
        await asyncio.sleep(0.5)  # the process is up
        start = time.process_time()
        for i in range(0, flows, PER_ITERATION):
            if with_authlens:
                for flow in batch[i:i + PER_ITERATION]:
                    addon.response(flow)
            await asyncio.sleep(PACE)
        await asyncio.sleep(0.2)  # the last results come back
        spent = time.process_time() - start
        addon.done()
    return spent / flows * 1e6


def run(arm: str, root: Path, flows: int) -> float:
    """One arm in a fresh process, with the authlens package of ``root``."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(root / "addons"), str(ROOT / "bench")]))
    command = [sys.executable, __file__, "--arm", arm, "--flows", str(flows), "--root", str(root)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    return float(done.stdout.split()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--flows", type=int, default=12_000)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--compare", type=Path, metavar="DIR",
                        help="another checkout whose authlens is measured too")
    parser.add_argument("--arm", choices=["control", "authlens"], help=argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.arm:
        import authlens
        assert Path(authlens.__file__).resolve().is_relative_to(args.root), authlens.__file__
        sys.stdout, out = open(os.devnull, "w"), sys.stdout  # rich output to nowhere, as live.py
        print(f"{asyncio.run(measure(args.flows, args.arm == 'authlens')):.2f}", file=out)
        return
    arms = {"control": ("control", ROOT), "authlens": ("authlens", ROOT)}
    if args.compare:
        arms["compared"] = ("authlens", args.compare.resolve())
    results: dict[str, list[float]] = {name: [] for name in arms}
    for i in range(args.rounds):
        names = list(arms)
        for name in names[i % len(names):] + names[:i % len(names)]:
            results[name].append(run(*arms[name], args.flows))
            print(f"round {i + 1} {name:<12} {results[name][-1]:6.1f} µs CPU per flow", flush=True)
    control = statistics.median(results["control"])
    print(f"{args.flows} flows x {args.rounds} rounds; medians, the proxy's process per flow"
          f"{f' (compared: {args.compare})' if args.compare else ''}:")
    for name, values in results.items():
        median = statistics.median(values)
        extra = "" if name == "control" else f"  (authlens: +{median - control:.1f})"
        print(f"  {name:<12} {median:6.1f} µs{extra}")


if __name__ == "__main__":
    main()
