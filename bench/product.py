"""What authlens costs where users pay for it, side by side in one run:

(a) ``mitmdump -nr`` CPU over a capture of the realistic mix (``traffic.py``: 12 000 flows, 85 %
    successful calls), with authlens / without (goal <= 1.05), and an empty script / without
    (the control);
(b) live throughput through a reverse-proxy mitmdump (wrk, ``live.py``), with authlens / bare, at
    15 % and 2 % refusals (goals >= 0.95 and >= 0.98);
(c) the p99 latency authlens adds in those live runs.

    .venv/bin/python bench/product.py [--rounds 3] [--flows 12000] [--seconds 8]

Every measurement runs in interleaved rounds (the order rotates each round: the machine is shared
and drifts); each ratio is given as the ratio of the medians and as the median and range of each
round's ratio to the bare run of the same round, which shows how noisy the run was. Output of
both mitmdumps goes to /dev/null. Needs wrk (Debian package ``wrk``).
"""

from __future__ import annotations

import argparse
import compileall
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import live
import traffic

ROOT = Path(__file__).resolve().parents[1]
MITMDUMP = Path(sys.executable).parent / "mitmdump"


def write_capture(path: Path, flows: int) -> None:
    """The mix as a .flow file, one flow every 50 ms (tokens valid when each was sent)."""
    from mitmproxy import io
    with open(path, "wb") as out:
        writer = io.FlowWriter(out)
        for i, r in enumerate(traffic.stream(flows)):
            writer.add(traffic.flow(r, sent=traffic.NOW + i * 0.05))


def replay_cpu(capture: Path, script: Path | None) -> float:
    """CPU seconds (user + system) of one ``mitmdump -nr`` over the capture, with ``script``."""
    confdir = tempfile.mkdtemp(prefix="authlens-bench-")
    cmd = [str(MITMDUMP), "-nr", str(capture), "--set", f"confdir={confdir}"]
    if script is not None:
        cmd += ["-s", str(script)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}")
    return usage.ru_utime + usage.ru_stime


def ratios(pairs: list[tuple[float, float]]) -> str:
    """'ratio of medians (per round: median, min-max)' of (authlens, bare) pairs."""
    mine = statistics.median(a for a, _ in pairs)
    bare = statistics.median(b for _, b in pairs)
    each = sorted(a / b for a, b in pairs)
    return (f"{mine / bare:.3f} (each round: median {statistics.median(each):.3f}, "
            f"{each[0]:.3f}-{each[-1]:.3f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--flows", type=int, default=12_000)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=8)
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at the start; "
          f"Python {sys.version.split()[0]}", flush=True)
    # Users' authlens starts from bytecode (pip writes it; a checkout gets __pycache__ on the first
    # run), so the bench does too, even where PYTHONDONTWRITEBYTECODE is set.
    compileall.compile_dir(ROOT / "addons", quiet=1)
    tmp = Path(tempfile.mkdtemp(prefix="authlens-product-"))
    capture = tmp / "mix.flow"
    write_capture(capture, args.flows)
    upstream = live.free_port()
    server = subprocess.Popen([sys.executable, live.__file__, "--serve", str(upstream)])
    scripts = {}
    for refused in (0.15, 0.02):
        scripts[refused] = tmp / f"mix-{refused}.lua"
        scripts[refused].write_text(live.lua_script(refused=refused))
    live_args = SimpleNamespace(script=str(ROOT / "addon.py"), set=[], empty=None,
                                seconds=args.seconds, connections=args.connections)
    empty = tmp / "empty.py"  # the control: what mitmproxy charges any script
    empty.write_text(live.EMPTY_SCRIPT)
    replays: list[tuple[float, float]] = []
    controls: list[tuple[float, float]] = []
    runs: dict[float, list[tuple[live.Run, live.Run]]] = {r: [] for r in scripts}
    try:
        live.wait_for_port(upstream)
        for i in range(args.rounds):
            arms = {"authlens": ROOT / "addon.py", "bare": None, "empty script": empty}
            order = list(arms)[i % 3:] + list(arms)[:i % 3]
            cpu = {arm: replay_cpu(capture, arms[arm]) for arm in order}
            replays.append((cpu["authlens"], cpu["bare"]))
            controls.append((cpu["empty script"], cpu["bare"]))
            print(f"round {i + 1} -nr: authlens {cpu['authlens']:6.2f} s CPU, bare "
                  f"{cpu['bare']:6.2f} s, empty script {cpu['empty script']:6.2f} s"
                  f"  (load average {os.getloadavg()[0]:.2f})", flush=True)
            for refused, lua in scripts.items():
                done = {arm: live.run(arm, upstream, str(lua), live_args)
                        for arm in (("authlens", "bare") if i % 2 else ("bare", "authlens"))}
                runs[refused].append((done["authlens"], done["bare"]))
                print(f"round {i + 1} live {refused:.0%} refused: authlens "
                      f"{done['authlens'].rps:7.0f} req/s p99 {done['authlens'].p99_ms:6.2f} ms, "
                      f"bare {done['bare'].rps:7.0f} req/s p99 {done['bare'].p99_ms:6.2f} ms  "
                      f"(load average {os.getloadavg()[0]:.2f})", flush=True)
    finally:
        server.terminate()
        server.wait()
    per_flow = (statistics.median(a for a, _ in replays)
                - statistics.median(b for _, b in replays)) / args.flows * 1e6
    print(f"\n(a) mitmdump -nr, {args.flows} flows, CPU with / without authlens: "
          f"{ratios(replays)}; +{per_flow:.0f} µs per flow (goal <= 1.05)")
    print(f"    control, an empty script / without: {ratios(controls)} (mitmproxy's cost of "
          f"loading any script, and this machine's noise)")
    for refused, pairs in runs.items():
        goal = 0.95 if refused > 0.1 else 0.98
        rps = ratios([(a.rps, b.rps) for a, b in pairs])
        added = sorted(a.p99_ms - b.p99_ms for a, b in pairs)
        print(f"(b) live, {refused:.0%} refused, throughput with / without: {rps} "
              f"(goal >= {goal})")
        if all(a.proxy_us and b.proxy_us for a, b in pairs):  # /proc: Linux only
            cpu = ratios([(b.proxy_us, a.proxy_us) for a, b in pairs])
            print(f"    proxy CPU per request, bare / with authlens: {cpu} (what the proxy's own "
                  f"process pays; it equals the throughput ratio while the proxy has a core)")
        print(f"(c) live, {refused:.0%} refused, p99 added: median {statistics.median(added):+.2f}"
              f" ms ({added[0]:+.2f} to {added[-1]:+.2f}); bare p99 "
              f"{statistics.median(b.p99_ms for _, b in pairs):.2f} ms")
    print(f"load average {os.getloadavg()[0]:.2f} at the end; {time.strftime('%Y-%m-%d %H:%M')}")


if __name__ == "__main__":
    main()
