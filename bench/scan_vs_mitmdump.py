"""``authlens scan`` against ``mitmdump -nr FILE -s addon.py`` on the same big capture.

    .venv/bin/python bench/scan_vs_mitmdump.py [--flows 20000] [--memory-flows 100000]

Builds a capture by replicating the sample captures' flows with fresh ids, times both readers
on it side by side (their output going to /dev/null), prints the ratio, then measures the peak
memory of a scan of a ``--memory-flows`` capture (0 skips it). Peak RSS is the sum over the scan's processes
(the main one and its workers), sampled from /proc every 20 ms.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from mitmproxy.io import tnetstring

ROOT = Path(__file__).resolve().parents[1]
MITMDUMP = Path(sys.executable).parent / "mitmdump"  # the one beside this Python, in its venv
sys.path.insert(0, str(ROOT / "addons"))

from authlens.capture import flowfile, tnet  # noqa: E402


def sample_states() -> list[dict]:
    states = []
    for path in sorted((ROOT / "captures").glob("*.flow")):
        with flowfile.mapped(str(path)) as buf:
            states += [tnet.parse(buf, start)[0] for start, _ in tnet.spans(buf)]
    return states


def build_capture(path: Path, flows: int) -> None:
    states = sample_states()
    with open(path, "wb") as out:
        for i in range(flows):
            state = states[i % len(states)]
            tnetstring.dump({**state, "id": str(uuid.uuid4())}, out)


def _tree_rss(pid: int) -> int:
    """RSS in bytes of ``pid`` and all its descendants."""
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            with open(f"/proc/{current}/statm") as statm:
                total += int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
            with open(f"/proc/{current}/task/{current}/children") as children:
                todo += [int(c) for c in children.read().split()]
        except (OSError, ValueError):
            pass
    return total


def timed(cmd: list[str]) -> tuple[float, int, float]:
    """(wall seconds, peak RSS of the process tree, CPU seconds of the tree) of ``cmd``. CPU time
    does not depend on what else the machine runs; wall time does."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    peak, done = 0, threading.Event()

    def sample():
        nonlocal peak
        while not done.wait(0.02):
            peak = max(peak, _tree_rss(proc.pid))

    sampler = threading.Thread(target=sample)
    sampler.start()
    _, _, usage = os.wait4(proc.pid, 0)  # includes the workers the scan waited for
    proc.returncode = 0
    done.set()
    sampler.join()
    return time.perf_counter() - start, peak, usage.ru_utime + usage.ru_stime


def scan_cmd(path: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "authlens", "scan", "--no-progress", "--fail-on", "never",
            *extra, str(path)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--flows", type=int, default=20_000)
    parser.add_argument("--memory-flows", type=int, default=100_000)
    args = parser.parse_args()
    os.environ["PYTHONPATH"] = str(ROOT / "addons")
    with tempfile.TemporaryDirectory() as tmp:
        big = Path(tmp) / f"bench-{args.flows}.flow"
        build_capture(big, args.flows)
        print(f"capture: {args.flows} flows, {big.stat().st_size / 1e6:.1f} MB", flush=True)
        for fmt in ("rich", "json"):  # like for like: the same output, to /dev/null
            mitm = timed([str(MITMDUMP), "-nr", str(big), "-s", "addon.py",
                          "--set", f"authlens_output={fmt}"])
            rows = [(f"mitmdump -nr -s addon.py ({fmt})", mitm),
                    (f"authlens scan -j1 --format {fmt}",
                     timed(scan_cmd(big, "--jobs", "1", "--format", fmt))),
                    (f"authlens scan --format {fmt}", timed(scan_cmd(big, "--format", fmt)))]
            for name, (seconds, rss, cpu) in rows:
                print(f"{name:<34} wall {seconds:6.2f} s ({mitm[0] / seconds:4.1f}x)  "
                      f"cpu {cpu:6.2f} s ({mitm[2] / cpu:4.1f}x)  "
                      f"{seconds / args.flows * 1e3:6.3f} ms/flow  peak RSS {rss / 2**20:4.0f} MiB",
                      flush=True)
        if not args.memory_flows:
            return 0
        huge = Path(tmp) / f"bench-{args.memory_flows}.flow"
        build_capture(huge, args.memory_flows)
        for fmt in ("rich", "json"):
            seconds, rss, cpu = timed(scan_cmd(huge, "--format", fmt))
            print(f"scan {args.memory_flows} flows ({huge.stat().st_size / 1e6:.0f} MB), "
                  f"--format {fmt}: wall {seconds:.2f} s, cpu {cpu:.2f} s, peak RSS {rss / 2**20:.0f} MiB (all processes)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
