"""Live cost: wrk through mitmdump (reverse proxy) to a fast loopback server: bare, with an
empty addon script (the control: what loading any script costs, and how far this machine's noise
goes), and with authlens; the order rotates each round, since the machine drifts. Prints each
run, then the median throughput ratios to bare mitmdump (of the medians, and the median and
range of each round's ratio to the bare run of the same round) and the p99 latency each adds.

It also prints the CPU time each request costs the proxy's process (Linux ``/proc``): the CPU
ratio is bare proxy CPU per request / this arm's. While the proxy is saturated its throughput is
1 / (its CPU per request), so the two ratios agree; they differ when the proxy waits for a core
(wrk and the loopback server share the machine). ``bench/product.py`` runs this beside the
``mitmdump -nr`` measurement, at two refusal rates.

    .venv/bin/python bench/live.py [--rounds 3] [--seconds 10] [--connections 8]

The requests replay the mix of ``traffic.py`` (credentials, 15 % refusals with real challenges
and bodies). authlens runs with its defaults; its rich output goes where mitmdump's stdout goes
(/dev/null here). Needs wrk (Debian package ``wrk``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import traffic

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

sys.path.insert(0, str(ROOT / "captures"))
from make_captures import free_port, wait_for_port  # noqa: E402


def responses() -> dict[bytes, bytes]:
    """First path segment -> the raw response the server sends."""
    out = {}
    for name, (status, headers, body) in [("ok", traffic.OK),
                                          *((f"r{i}", r) for i, r in enumerate(traffic.REFUSALS))]:
        head = f"HTTP/1.1 {status} X\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers)
        out[name.encode()] = (head + f"Content-Length: {len(body)}\r\n\r\n").encode() + body
    return out


class Server(asyncio.Protocol):
    """HTTP/1.1 keep-alive, GET only, pipelining-safe: answers each request by its path."""

    answers = responses()

    def connection_made(self, transport):
        self.transport, self.buffer = transport, b""

    def data_received(self, data):
        self.buffer += data
        while b"\r\n\r\n" in self.buffer:
            head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
            segment = head.split(b" ", 2)[1].split(b"/")[1]
            self.transport.write(self.answers.get(segment, self.answers[b"ok"]))


def serve(port: int) -> None:
    loop = asyncio.new_event_loop()
    loop.run_until_complete(loop.create_server(Server, "127.0.0.1", port))
    loop.run_forever()


def lua_script(n: int = 500, refused: float = 0.15) -> str:
    """wrk cycles through ``n`` requests of the mix (``refused``: the share of refusals); the path
    names the canned response."""
    refusal = {status_body: f"r{i}" for i, status_body in
               enumerate((s, b) for s, _, b in traffic.REFUSALS)}
    lines = ["local requests = {}"]
    # Tokens valid now: the proxy judges them against the clock, and an expired one is a
    # finding (and a rich block) on every request, which is not the mix.
    tokens = [traffic.mint(c, 0, sent=time.time()) for c in range(traffic.CLIENTS)]
    for i, r in enumerate(traffic.requests(n, tokens=tokens, refused=refused)):
        segment = refusal.get((r.status, r.response_body), "ok")
        path = f"/{segment}/{r.url.split('/', 3)[3]}"
        headers = ", ".join(f"[{k!r}] = {v!r}" for k, v in r.headers if k != "Host")
        lines.append(f"requests[{i}] = wrk.format('GET', {path!r}, {{{headers}}})")
    lines += [f"local n, i = {n}, 0",
              "request = function() i = (i + 1) % n; return requests[i] end"]
    return "\n".join(lines) + "\n"


EMPTY_SCRIPT = "class Nothing:\n    def response(self, flow):\n        pass\n\naddons = [Nothing()]\n"
ARMS = ("bare", "empty script", "authlens")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far; 0.0 once it is gone or off Linux."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Run:
    """What one wrk run through one mitmdump measured."""

    rps: float
    p99_ms: float
    proxy_us: float
    """CPU time of the proxy's process per request, µs."""


def run(arm: str, upstream: int, script: str, args) -> Run:
    """One wrk run through a fresh mitmdump."""
    port = free_port()
    confdir = tempfile.mkdtemp(prefix="authlens-bench-")
    cmd = [str(BIN / "mitmdump"), "-q", "--mode", f"reverse:http://127.0.0.1:{upstream}",
           "--listen-host", "127.0.0.1", "--listen-port", str(port), "--set", f"confdir={confdir}"]
    if arm == "empty script":
        cmd += ["-s", args.empty]
    elif arm == "authlens":
        cmd += ["-s", args.script, *(a for o in args.set for a in ("--set", o))]
    proxy = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port)
        subprocess.run(["wrk", "-t1", "-c2", "-d2s", "-s", script, f"http://127.0.0.1:{port}/"],
                       capture_output=True)  # warm-up: imports, caches
        proxy_cpu = cpu_seconds(proxy.pid)
        done = subprocess.run(["wrk", "-t1", f"-c{args.connections}", f"-d{args.seconds}s",
                               "--latency", "-s", script, f"http://127.0.0.1:{port}/"],
                              capture_output=True, text=True, check=True)
        proxy_cpu = cpu_seconds(proxy.pid) - proxy_cpu
    finally:
        proxy.terminate()
        proxy.wait()
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", done.stdout).group(1))
    value, unit = re.search(r"99%\s+([\d.]+)(us|ms|s)", done.stdout).groups()
    count = int(re.search(r"(\d+) requests in", done.stdout).group(1))
    return Run(rps, float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit],
               proxy_cpu / count * 1e6)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--set", action="append", default=[], metavar="OPTION=VALUE",
                        help="an authlens option for the runs with authlens (repeatable)")
    parser.add_argument("--script", default=str(ROOT / "addon.py"),
                        help="the addon script to compare with bare mitmdump (default: authlens)")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return
    upstream = free_port()
    server = subprocess.Popen([sys.executable, __file__, "--serve", str(upstream)])
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as lua:
        lua.write(lua_script())
    args.empty = os.path.join(tempfile.mkdtemp(prefix="authlens-bench-"), "empty.py")
    Path(args.empty).write_text(EMPTY_SCRIPT)
    results: dict[str, list[Run]] = {arm: [] for arm in ARMS}
    try:
        wait_for_port(upstream)
        for i in range(args.rounds):
            for arm in ARMS[i % 3:] + ARMS[:i % 3]:
                done = run(arm, upstream, lua.name, args)
                results[arm].append(done)
                print(f"round {i + 1} {arm:<12}  {done.rps:8.0f} req/s  p99 {done.p99_ms:7.2f} ms"
                      f"  CPU/request: proxy {done.proxy_us:5.0f} µs"
                      f"  (load average {os.getloadavg()[0]:.2f})",
                      flush=True)
    finally:
        server.terminate()
        os.unlink(lua.name)

    def median(arm: str, field: str) -> float:
        return statistics.median(getattr(r, field) for r in results[arm])

    base_rps, base_p99, base_cpu = (median("bare", f) for f in ("rps", "p99_ms", "proxy_us"))
    print(f"bare mitmdump: median {base_rps:.0f} req/s, p99 {base_p99:.2f} ms, proxy CPU "
          f"{base_cpu:.0f} µs/request on {os.cpu_count()} CPUs")
    for arm in ARMS[1:]:
        rps, p99, cpu = (median(arm, f) for f in ("rps", "p99_ms", "proxy_us"))
        paired = sorted(r.rps / b.rps for r, b in zip(results[arm], results["bare"], strict=False))
        print(f"{arm}: median {rps:.0f} req/s, ratio {rps / base_rps:.3f} (each round against "
              f"its own bare run: median {statistics.median(paired):.3f}, "
              f"{paired[0]:.3f}–{paired[-1]:.3f}); "
              f"p99 {p99:.2f} ms ({p99 - base_p99:+.2f} ms); proxy CPU {cpu:.0f} µs/request, "
              f"CPU ratio {base_cpu / cpu:.3f}")


if __name__ == "__main__":
    main()
