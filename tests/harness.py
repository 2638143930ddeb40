"""Test harness: a real upstream HTTP server and the real mitmdump/mitmweb of the running venv.

Everything listens on 127.0.0.1 only. Typical use (see conftest.py for fixtures)::

    upstream.route("/api", status=401, headers=[("WWW-Authenticate", 'Bearer realm="x"')])
    with Mitmdump(tmp_path, script=None) as proxy:
        r = proxied_client(proxy.proxy_url).get(upstream.url("/api"))
    flows = proxy.read_flows()
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
"""The venv's bin directory: mitmdump/mitmweb are taken from here, never from $PATH."""

sys.path.insert(0, str(REPO / "captures"))
from make_captures import free_port  # noqa: E402,F401 - one copy, also for tests

Headers = Sequence[tuple[str, str]]


# --------------------------------------------------------------------------------------------
# Upstream server
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass
class RecordedRequest:
    """One request as the upstream received it; ``raw`` is byte-identical to what came off the socket."""

    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes
    raw: bytes

    @property
    def path(self) -> str:
        return urllib.parse.urlsplit(self.target).path

    def header(self, name: str) -> str | None:
        """First value of header ``name`` (case-insensitive), or None."""
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)


@dataclasses.dataclass
class Response:
    """A canned response. ``headers`` may repeat names (e.g. several WWW-Authenticate)."""

    status: int = 200
    headers: Headers = ()
    body: bytes | str = b""
    """A ``str`` body is sent as UTF-8."""

    def __post_init__(self) -> None:
        if isinstance(self.body, str):
            self.body = self.body.encode()


Handler = Callable[[RecordedRequest], Response]


class _RecordingReader:
    """Wraps the socket's rfile and keeps a copy of every byte read."""

    def __init__(self, fp):
        self.fp = fp
        self.buf = bytearray()

    def readline(self, size: int = -1) -> bytes:
        data = self.fp.readline(size)
        self.buf += data
        return data

    def read(self, size: int = -1) -> bytes:
        data = self.fp.read(size)
        self.buf += data
        return data

    def __getattr__(self, name: str):  # close() etc.
        return getattr(self.fp, name)


class _UpstreamHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _UpstreamHTTPServer

    def handle_one_request(self) -> None:
        if not isinstance(self.rfile, _RecordingReader):
            self.rfile = _RecordingReader(self.rfile)
        self.rfile.buf = bytearray()
        super().handle_one_request()

    def __getattr__(self, name: str):
        if name.startswith("do_"):  # every method, including unusual ones
            return self._serve
        raise AttributeError(name)

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            body = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return bytes(body)
                body += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _serve(self) -> None:
        body = self._read_body()
        req = RecordedRequest(
            method=self.command,
            target=self.path,
            headers=list(self.headers.items()),
            body=body,
            raw=bytes(self.rfile.buf),
        )
        self.server.upstream.requests.append(req)
        resp = self.server.upstream.respond(req)
        self.send_response_only(resp.status)
        names = {k.lower() for k, _ in resp.headers}
        for k, v in resp.headers:
            self.send_header(k, v)
        if "content-length" not in names and "transfer-encoding" not in names:
            self.send_header("Content-Length", str(len(resp.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(resp.body)

    def log_message(self, format, *args) -> None:  # keep test output clean
        pass


class _UpstreamHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    upstream: Upstream


class Upstream:
    """A real HTTP/1.1 server on 127.0.0.1 with a programmable route table.

    Routes match on the path (query ignored); unknown paths get 404. ``requests`` lists every
    request received, in arrival order, each with its exact raw bytes.
    """

    def __init__(self) -> None:
        self.routes: dict[str, Response | Handler] = {}
        self.requests: list[RecordedRequest] = []
        self._server = _UpstreamHTTPServer(("127.0.0.1", 0), _UpstreamHandler)
        self._server.upstream = self
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> Upstream:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Upstream:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def route(
        self,
        path: str,
        status: int = 200,
        headers: Headers = (),
        body: bytes | str = b"",
        handler: Handler | None = None,
    ) -> None:
        """Serve ``path`` with a fixed response, or with ``handler(request) -> Response``."""
        self.routes[path] = handler or Response(status, tuple(headers), body)

    def respond(self, req: RecordedRequest) -> Response:
        route = self.routes.get(req.path)
        if route is None:
            return Response(404, [("Content-Type", "text/plain")], b"no route\n")
        return route(req) if callable(route) else route

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"


# --------------------------------------------------------------------------------------------
# mitmdump / mitmweb
# --------------------------------------------------------------------------------------------

_DEFAULT_SCRIPT = REPO / "addon.py"
_LISTEN_RE = re.compile(r"proxy listening at 127\.0\.0\.1:(\d+)")


class _MitmProcess:
    """Common part of Mitmdump and Mitmweb: run the venv's tool, capture output, stop with SIGINT."""

    tool = ""

    def __init__(
        self,
        tmp_path: Path,
        script: str | os.PathLike | None = _DEFAULT_SCRIPT,
        options: dict[str, object] | None = None,
        args: Iterable[str] = (),
        write_flows: bool = True,
    ) -> None:
        self.dir = Path(tmp_path) / f"{self.tool}-{id(self):x}"
        self.dir.mkdir(parents=True)
        self.flow_file = self.dir / "out.flow"
        self.stdout_file = self.dir / "stdout.txt"
        self.stderr_file = self.dir / "stderr.txt"
        self.confdir = self.dir / "confdir"  # private CA, never ~/.mitmproxy
        self.listen_port: int | None = None
        self.proc: subprocess.Popen | None = None
        cmd = [str(BIN / self.tool), "--set", f"confdir={self.confdir}"]
        if script is not None:
            cmd += ["-s", str(script)]
        if write_flows:
            cmd += ["-w", str(self.flow_file)]
        for name, value in (options or {}).items():
            values = value if isinstance(value, (list, tuple)) else [value]
            for v in values:
                v = str(v).lower() if isinstance(v, bool) else v
                cmd += ["--set", f"{name}={v}"]
        self.cmd = cmd + list(args)

    # -- lifecycle ----------------------------------------------------------------------------

    def _spawn(self) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with open(self.stdout_file, "wb") as out, open(self.stderr_file, "wb") as err:
            self.proc = subprocess.Popen(
                self.cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env, cwd=self.dir
            )

    def output(self) -> str:
        """Everything the process wrote so far (stdout, then stderr)."""
        return self.stdout_file.read_text(errors="replace") + self.stderr_file.read_text(
            errors="replace"
        )

    def wait_for_output(self, pattern: str, timeout: float = 20) -> re.Match:
        """Wait until ``pattern`` (regex) appears in the output; fail if the process dies first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if m := re.search(pattern, self.output()):
                return m
            if self.proc is not None and self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError(
            f"{self.tool}: {pattern!r} not seen (rc={self.proc and self.proc.poll()}); "
            f"cmd={self.cmd}\n{self.output()}"
        )

    def stop(self, timeout: float = 20) -> str:
        """SIGINT (so `done` hooks run and the flow file is flushed), wait, return the output."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise RuntimeError(f"{self.tool} ignored SIGINT for {timeout}s\n{self.output()}") from None
        return self.output()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- results ------------------------------------------------------------------------------

    @property
    def proxy_url(self) -> str:
        return f"http://127.0.0.1:{self.listen_port}"

    @property
    def ca_cert(self) -> Path:
        """This instance's CA certificate (PEM), for clients talking HTTPS through the proxy."""
        return self.confdir / "mitmproxy-ca-cert.pem"

    def read_flows(self, path: str | os.PathLike | None = None) -> list:
        return read_flows(path or self.flow_file)


def read_flows(path: str | os.PathLike) -> list:
    """All flows in a mitmproxy flow file, via ``mitmproxy.io.FlowReader``."""
    from mitmproxy import io

    with open(path, "rb") as f:
        return list(io.FlowReader(f).stream())


class Mitmdump(_MitmProcess):
    """The real ``mitmdump``: ``with Mitmdump(tmp_path, script=...) as m: ... m.proxy_url``.

    ``script`` defaults to the repository's addon.py; pass None for no addon. ``options`` become
    ``--set name=value`` (lists repeat the flag). Flows are written to ``flow_file``.
    """

    tool = "mitmdump"

    def start(self, timeout: float = 20) -> Mitmdump:
        self.cmd += ["--listen-host", "127.0.0.1", "--listen-port", "0"]
        self._spawn()
        self.listen_port = int(self.wait_for_output(_LISTEN_RE.pattern, timeout)[1])
        return self

    def __enter__(self) -> Mitmdump:
        return self.start()

    def replay(self, flow_file: str | os.PathLike, timeout: float = 60) -> str:
        """``mitmdump -nr FILE``: run the addons over saved flows without listening; return output.

        Raises if mitmdump exits non-zero. Flows (as modified by the addons) go to ``flow_file``.
        """
        self.cmd += ["-n", "-r", str(flow_file)]
        self._spawn()
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise RuntimeError(f"mitmdump -nr did not finish in {timeout}s\n{self.output()}") from None
        if rc != 0:
            raise RuntimeError(f"mitmdump -nr exited {rc}\n{self.output()}")
        return self.output()


class Mitmweb(_MitmProcess):
    """The real ``mitmweb`` on a free web port, browser opening disabled.

    Authentication is taken from mitmweb's own startup line, so it works for every version:
    11.0.x prints ``Web server listening at http://host:port/`` (no auth at all); 11.1+/12 print
    ``...?token=<hex>``, accept the token as ``?token=`` or ``Authorization: Bearer``, and then
    set a session cookie. ``url`` is ready for a browser; ``get_json`` adds the bearer header.
    """

    tool = "mitmweb"

    def start(self, timeout: float = 30) -> Mitmweb:
        self.web_port = free_port()
        self.cmd += [
            "--listen-host", "127.0.0.1", "--listen-port", "0",
            "--web-host", "127.0.0.1", "--web-port", str(self.web_port),
            "--no-web-open-browser",
        ]  # fmt: skip
        self._spawn()
        self.listen_port = int(self.wait_for_output(_LISTEN_RE.pattern, timeout)[1])
        self.url = self.wait_for_output(r"Web server listening at (http://\S+)", timeout)[1]
        self.token = urllib.parse.parse_qs(urllib.parse.urlsplit(self.url).query).get(
            "token", [None]
        )[0]
        return self

    def __enter__(self) -> Mitmweb:
        return self.start()

    def get_json(self, path: str):
        """GET ``path`` (e.g. "/flows") from mitmweb's REST API, authenticated, decoded."""
        req = urllib.request.Request(f"http://127.0.0.1:{self.web_port}{path}")
        if self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.load(r)

    def command(self, name: str, *arguments: str):
        """Run a mitmproxy command the way mitmweb's command bar does: ``POST /commands/NAME``
        with ``{"arguments": [...]}`` and tornado's XSRF cookie echoed in ``X-XSRFToken``.
        Returns the command's value; a command error raises RuntimeError."""
        xsrf = os.urandom(16).hex()  # tornado compares cookie and header; 12.x renamed the cookie
        headers = {"X-XSRFToken": xsrf, "Cookie": f"_xsrf={xsrf}; _mitmproxy_xsrf={xsrf}"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        with httpx.Client(base_url=f"http://127.0.0.1:{self.web_port}", headers=headers,
                          trust_env=False, timeout=30) as client:
            r = client.post(f"/commands/{name}", json={"arguments": list(arguments)})
        r.raise_for_status()
        answer = r.json()
        if "error" in answer:
            raise RuntimeError(f"{name}: {answer['error']}")
        return answer.get("value")


# --------------------------------------------------------------------------------------------
# clients
# --------------------------------------------------------------------------------------------


def send_raw(port: int, data: bytes, timeout: float = 20) -> bytes:
    """Send ``data`` (which should say ``Connection: close``) to 127.0.0.1:port; return the reply."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def proxied_client(proxy_url: str, **kwargs) -> httpx.Client:
    """An httpx client that goes through ``proxy_url`` and ignores proxy env variables."""
    return httpx.Client(proxy=proxy_url, trust_env=False, **kwargs)


def curl(proxy_url: str, url: str, *args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    """Run ``curl -sS --proxy proxy_url [args] url`` (NO_PROXY & co. removed from its env)."""
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("no_proxy", "http_proxy",
                                                                   "https_proxy", "all_proxy")}
    return subprocess.run(
        ["curl", "-sS", "--proxy", proxy_url, *args, url],
        capture_output=True, env=env, timeout=timeout,
    )  # fmt: skip

