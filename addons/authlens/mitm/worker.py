"""The analysis process: live flows are diagnosed beside the proxy, not on its thread.

mitmdump runs its event loop on one core; authlens' analysis on that thread cost it a fifth of
its throughput (bench/live.py). So, while the proxy serves live traffic, the proxy's thread only
takes each finished flow's raw parts (``adapter.record_of``, a few µs), sends them here in
batches (one every ``BATCH_DELAY`` at most: each write wakes this process), and applies what
comes back for the flows that have something to say: their terminal text already drawn, their
JSON for the session, and the diagnosis itself only where a flow view (mitmweb, console) or log
lines need it. Where nothing needs the diagnoses (mitmdump), this process writes the text to the
proxy's stdout itself and keeps the session until the proxy asks for it, and the proxy's thread
gets back only acknowledgements. The trackers (token lifecycle, redirects, CORS, cookies) live
here and see the flows in the order the proxy finished them.

    main --("flows", [(seq, record), ...])-->  worker  --("results", last_seq, [...])--> main
    main --("settings", Settings) / ("present", Output, send_diagnoses, encoding)--> worker
    main --("ask", id, question, args)-->      worker  --("answer", id, value)-->        main

Frames are a 4-byte little-endian length, a codec byte and the message (``frame``); both ends
are this module. The proxy's side never blocks on the pipe (non-blocking fds watched by the
event loop) except in ``ask``, which commands and the end of the session use, with a time limit.
If the process dies or falls too far behind, ``Worker`` says so through ``on_lost`` with the
flows it still owed results for.

Run as ``python -m authlens.mitm.worker`` by ``Worker.start``.
"""

from __future__ import annotations

import collections
import itertools
import json
import logging
import marshal
import os
import pickle
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..analyze import Analyzer, default_trackers
from ..oauth import timeline
from ..oauth.lifecycle import lifecycle_of
from ..render import terminal
from ..secrecy import redact_url
from ..session import SessionLog
from .adapter import exchange_from_record, text_of

log = logging.getLogger("authlens")

MAX_PENDING = 20_000
"""Flows sent but not yet answered; past this the process is too far behind to be useful."""
ACK_EVERY = 64
"""The process answers a batch without results only once this many flows wait for an answer:
each answer wakes the proxy's thread, and most flows have nothing to say."""

BATCH_DELAY = 0.005
"""Seconds a batch gathers flows before it goes out."""

_LENGTH = 4
_MARSHAL, _PICKLE = b"m", b"p"
_MARSHAL_VERSION = 2
"""Without the back-references of versions 3 and 4, which look every object written up in a
table: a batch of flow records is dumped 30 % faster here (0.5 instead of 0.7 µs a flow, on the
proxy's thread) and comes out 10 % longer."""
READ_SIZE = 64 * 1024
"""Bytes asked of the pipe per read. A pipe holds 64 KiB; a bigger request (1 MiB) made malloc
map and unmap a fresh buffer on every read, three more syscalls per read on the proxy's thread
(strace)."""


def frame(message: Any) -> bytes:
    """One message on the pipe. Flows and results are plain data and go as ``marshal`` (faster
    than pickle on both ends; both ends run the same Python); settings need pickle."""
    try:
        data = _MARSHAL + marshal.dumps(message, _MARSHAL_VERSION)
    except ValueError:  # not plain data
        data = _PICKLE + pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return len(data).to_bytes(_LENGTH, "little") + data


def unframe(buffer: bytearray) -> list:
    """The whole messages at the start of ``buffer`` (removed from it)."""
    out = []
    start = 0
    while len(buffer) - start >= _LENGTH:
        size = int.from_bytes(buffer[start:start + _LENGTH], "little")
        end = start + _LENGTH + size
        if len(buffer) < end:
            break
        codec = buffer[start + _LENGTH:start + _LENGTH + 1]
        body = bytes(buffer[start + _LENGTH + 1:end])
        out.append(marshal.loads(body) if codec == _MARSHAL else pickle.loads(body))
        start = end
    del buffer[:start]
    return out


class Worker:
    """The proxy's side: starts the process, sends it flows, hands back their results.

    ``on_result(flow, diagnosis, as_json, shown)`` gets each flow with something to say, in order,
    on the event loop's thread: its diagnosis (None unless asked for), the diagnosis as JSON, and
    what the terminal output asked for shows of it (``terminal.Output.text``).
    ``on_lost(reason, flows)`` is called once if the process stops answering, with the flows sent
    for a result and not answered (the caller analyses them itself).
    """

    def __init__(self, on_result: Callable[[Any, dict, str, str | None], None],
                 on_lost: Callable[[str, list], None]):
        self.on_result = on_result
        self.on_lost = on_lost
        self.process: subprocess.Popen | None = None
        self.loop = None
        self._seq = itertools.count(1)
        self._asks = itertools.count(1)
        self._pending: collections.deque = collections.deque()  # (seq, flow), oldest first
        self._batch: list = []
        self._out = bytearray()
        self._in = bytearray()
        self._answers: dict[int, Any] = {}
        self._watching_write = False
        self.terminal = None
        """The proxy's stdout when the process can write to it too (``start``)."""

    def start(self, loop, terminal=None) -> None:
        """Start the process (raises OSError/NotImplementedError if this platform can't).
        ``terminal``: the proxy's stdout, handed to the process (a duplicate of its descriptor)
        for when it is asked to write there itself (``present``)."""
        package_root = str(Path(__file__).resolve().parents[2])
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
        command = [sys.executable, "-m", "authlens.mitm.worker"]
        handed = _duplicate_descriptor(terminal)
        if handed is not None:
            command += ["--terminal", str(handed)]
        try:
            self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                            env=env, pass_fds=() if handed is None else (handed,),
                                            start_new_session=True)  # out of reach of Ctrl-C
        finally:
            if handed is not None:
                os.close(handed)
        self.terminal = terminal if handed is not None else None
        self.loop = loop
        os.set_blocking(self.process.stdin.fileno(), False)
        os.set_blocking(self.process.stdout.fileno(), False)
        try:
            loop.add_reader(self.process.stdout.fileno(), self._readable)
        except Exception:
            self._kill()
            raise

    def send(self, message: Any) -> None:
        if self.process is not None:
            self._flush_batch()
            self._write(frame(message))

    def submit(self, record: tuple, flow=None) -> bool:
        """Queue a flow's record; the batch goes out ``BATCH_DELAY`` after its first flow.
        ``flow``: where its result goes; None when no result is wanted back, and then the flow
        is not held either (held flows outlive the young garbage collections and are promoted,
        and full collections, pauses of milliseconds in mitmdump, come more often). False if the
        process is gone (the flow is then the caller's)."""
        if len(self._pending) >= MAX_PENDING:
            self._lose(f"the analysis process is {MAX_PENDING} flows behind")
        if self.process is None:
            return False
        seq = next(self._seq)
        self._pending.append((seq, flow))
        if not self._batch:
            self.loop.call_later(BATCH_DELAY, self._flush_batch)
        self._batch.append((seq, record))
        return True

    def ask(self, question: str, *args, timeout: float = 5.0) -> Any:
        """Ask the process something and wait for the answer (it comes after every flow sent
        before it has been analysed, so asking also drains). None if it does not answer."""
        if self.process is None:
            return None
        ask_id = next(self._asks)
        self.send(("ask", ask_id, question, args))
        deadline = time.monotonic() + timeout
        while ask_id not in self._answers and self.process is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._lose(f"no answer to {question!r} within {timeout:g} s")
                break
            writing = [self.process.stdin] if self._out else []
            readable, writable, _ = select.select([self.process.stdout], writing, [], remaining)
            if writable:
                self._write(b"")
            if readable:
                self._readable()
        return self._answers.pop(ask_id, None)

    def stop(self) -> None:
        """Close the pipe (the process exits at end of input) and wait a moment for it."""
        process = self.process
        if process is None:
            return
        self._unwatch()
        self.process = None
        try:
            process.stdin.close()
            process.wait(timeout=2)
        except (OSError, subprocess.TimeoutExpired):
            process.kill()
            process.wait()
        process.stdout.close()

    # ---- the pipe ---------------------------------------------------------------------------

    def _flush_batch(self) -> None:
        if self._batch and self.process is not None:
            batch, self._batch = self._batch, []
            if self.terminal is not None:  # what the proxy wrote about these flows goes first
                try:
                    self.terminal.flush()
                except (OSError, ValueError):
                    pass
            self._write(frame(("flows", batch)))

    def _write(self, data: bytes) -> None:
        if self.process is None:
            return
        self._out += data
        try:
            written = os.write(self.process.stdin.fileno(), self._out) if self._out else 0
        except BlockingIOError:
            written = 0
        except OSError as exc:
            self._lose(f"cannot write to the analysis process: {exc}")
            return
        del self._out[:written]
        if self._out and not self._watching_write:
            self.loop.add_writer(self.process.stdin.fileno(), self._write, b"")
            self._watching_write = True
        elif not self._out and self._watching_write:
            self.loop.remove_writer(self.process.stdin.fileno())
            self._watching_write = False

    def _readable(self) -> None:
        try:
            data = os.read(self.process.stdout.fileno(), READ_SIZE)
        except BlockingIOError:
            return
        except OSError as exc:
            self._lose(f"cannot read from the analysis process: {exc}")
            return
        if not data:
            self._lose(f"the analysis process exited ({self.process.wait()})")
            return
        self._in += data
        for message in unframe(self._in):
            self._receive(message)

    def _receive(self, message: tuple) -> None:
        kind = message[0]
        if kind == "results":
            _, last, results = message
            pending = self._pending
            for seq, *result in results:
                while pending and pending[0][0] < seq:
                    pending.popleft()
                if pending and pending[0][0] == seq:
                    flow = pending.popleft()[1]
                    if flow is not None:
                        self.on_result(flow, *result)
            while pending and pending[0][0] <= last:
                pending.popleft()
        elif kind == "answer":
            self._answers[message[1]] = message[2]
        elif kind == "log":
            log.log(message[1], "%s", message[2])

    def _unwatch(self) -> None:
        if self.process is None or self.loop is None:
            return
        try:
            self.loop.remove_reader(self.process.stdout.fileno())
            if self._watching_write:
                self.loop.remove_writer(self.process.stdin.fileno())
        except (ValueError, OSError):  # the loop is already closed
            pass
        self._watching_write = False

    def _kill(self) -> None:
        process, self.process = self.process, None
        if process is not None:
            process.kill()
            process.wait()
            process.stdin.close()
            process.stdout.close()

    def _lose(self, reason: str) -> None:
        if self.process is None:
            return
        self._unwatch()
        self._kill()
        owed = [flow for _, flow in self._pending if flow is not None]
        if len(owed) < len(self._pending):
            reason += f" ({len(self._pending) - len(owed)} flows sent to it go unanalysed)"
        self._pending.clear()
        self._batch.clear()
        self._out.clear()
        self.on_lost(reason, owed)


def _duplicate_descriptor(file) -> int | None:
    """A new descriptor for ``file``'s, to hand to the process (None if it has none, e.g. a
    captured stream, or where ``Popen`` cannot pass descriptors)."""
    if os.name != "posix":
        return None
    try:
        return os.dup(file.fileno())
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is both
        return None


# ---- the process ---------------------------------------------------------------------------

class _Terminal:
    """The proxy's stdout, written to from this process (its own duplicate descriptor, sharing
    the file's offset with the proxy). A write that fails stops them all, said once."""

    def __init__(self, fd: int | None):
        self.fd = fd
        self.encoding = "utf-8"

    def write(self, text: str | None) -> None:
        if not text or self.fd is None:
            return
        data = memoryview(text.encode(self.encoding, "replace"))
        try:
            while data:
                try:
                    data = data[os.write(self.fd, data):]
                except BlockingIOError:  # someone made the shared file non-blocking
                    select.select([], [self.fd], [])
        except OSError as exc:
            self.fd = None
            _say(logging.WARNING, f"authlens: the analysis process cannot write to stdout "
                                  f"({exc}); no more diagnoses are shown there")


class _Analysis:
    """The process's state: the analyzer with its trackers, what to send back of each result, and
    the session while this process writes to the terminal itself."""

    def __init__(self, terminal_fd: int | None = None):
        self.trackers = default_trackers()
        self.lifecycle = lifecycle_of(self.trackers)
        self.analyzer = Analyzer(trackers=self.trackers)
        self.output = terminal.Output()
        self.send_diagnoses = True
        self.terminal = _Terminal(terminal_fd)
        self.writes_terminal = False
        self.session = SessionLog()
        self.answered = 0
        """The last flow the proxy has been answered for."""
        self.unanswered = 0
        """The last flow seen."""

    def settings(self, settings) -> None:
        self.analyzer = Analyzer(settings, trackers=self.trackers)

    def present(self, output: terminal.Output, send_diagnoses: bool,
                encoding: str | None = None) -> None:
        """Draw each diagnosis for ``output``; send the diagnoses themselves back or not. With an
        ``encoding``, write the text to the proxy's stdout here instead and keep the session
        (``flows`` then sends back nothing but acknowledgements)."""
        self.output, self.send_diagnoses = output, send_diagnoses
        self.writes_terminal = encoding is not None and self.terminal.fd is not None
        self.terminal.encoding = encoding or "utf-8"

    def flows(self, batch: list) -> tuple | None:
        """The message answering a batch, or None while there is nothing to say yet."""
        results = []
        for seq, record in batch:
            try:
                diagnosis = self.analyzer.analyze(exchange_from_record(record))
                result = diagnosis.to_dict() if diagnosis.noteworthy else None
                as_json = json.dumps(result) if result else None
                if self.writes_terminal:
                    self.session.record(record[0], None, as_json)
                    if result:
                        self.terminal.write(self.output.text(result))
                elif result:
                    results.append((seq, result if self.send_diagnoses else None, as_json,
                                    self.output.text(result)))
            except Exception as exc:  # noqa: BLE001 - one bad flow must not stop the others
                _say(logging.ERROR, f"authlens: internal error in the analysis process on "
                                    f"{_where(record)}: {type(exc).__name__}: {exc}")
        last = batch[-1][0] if batch else self.answered
        if results or last - self.answered >= ACK_EVERY:
            return self.acknowledge(last, results)
        self.unanswered = last
        return None

    def acknowledge(self, last: int | None = None, results: list | None = None) -> tuple:
        """The answer for every flow up to ``last`` (default: every flow seen)."""
        last = self.unanswered if last is None else last
        self.answered = self.unanswered = last
        return ("results", last, results or [])

    def answer(self, question: str, args: tuple):
        if question == "timelines":
            return timeline.for_flows(self.lifecycle, args[0])
        if question == "recent":
            return timeline.recent(self.lifecycle)
        if question == "session":
            return self.session.take()
        raise ValueError(f"unknown question {question!r}")


_replies = sys.stdout.buffer
"""The pipe to the proxy; ``serve`` moves it off fd 1 so that a stray print cannot corrupt it."""


def _where(record: tuple) -> str:
    """host/path of a flow record, credentials redacted, for an error message (the record may be
    what failed)."""
    try:
        _, _, (_, _, host, _, path, *_), _ = record
        return redact_url(text_of(host) + text_of(path))
    except (TypeError, ValueError):
        return "a flow"


def _say(level: int, text: str) -> None:
    _send(("log", level, text))


def _send(message) -> None:
    _replies.write(frame(message))
    _replies.flush()


def _terminal_fd(argv: list) -> int | None:
    """The descriptor ``--terminal FD`` names (the proxy's stdout), if any."""
    if len(argv) == 2 and argv[0] == "--terminal" and argv[1].isdigit():
        return int(argv[1])
    return None


def serve() -> None:
    """Answer the proxy until it closes the pipe."""
    global _replies
    _replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    if hasattr(os, "nice"):  # when the proxy and this process share a core, the proxy goes first
        os.nice(10)
    # The proxy stops this process (end of input) once it has asked for what it still needs;
    # an interrupt meant for the proxy must not end it first (where start_new_session is not
    # enough: other platforms, a signal sent to this process).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    analysis = _Analysis(_terminal_fd(sys.argv[1:]))
    source = sys.stdin.buffer
    buffer = bytearray()
    while True:
        data = source.read1(READ_SIZE)
        if not data:
            return
        buffer += data
        for message in unframe(buffer):
            kind = message[0]
            if kind == "flows":
                answer = analysis.flows(message[1])
                if answer is not None:
                    _send(answer)
            elif kind == "settings":
                analysis.settings(message[1])
            elif kind == "present":
                analysis.present(*message[1:])
            elif kind == "ask":
                _, ask_id, question, args = message
                _send(analysis.acknowledge())
                try:
                    value = analysis.answer(question, args)
                except Exception as exc:  # noqa: BLE001 - a bad question must not stop the process
                    _say(logging.ERROR, f"authlens: analysis process: {type(exc).__name__}: {exc}")
                    value = None
                _send(("answer", ask_id, value))


if __name__ == "__main__":
    serve()
