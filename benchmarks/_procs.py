"""Child processes of the benchmark runners (run.py, stream_rss.py): starting, talking to and
stopping them, which interpreter runs which client, and what machine this is (stdlib only)."""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import os
import platform
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Iterator, Optional, TextIO

log = logging.getLogger("benchmarks")

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS = HERE / "results"
PEER_VENVS = REPO / "conformance" / ".work"  # created and pinned by conformance/harness.py

START_TIMEOUT = 60.0  # a worker imports its client; the origin binds a port
COMMAND_TIMEOUT = 120.0  # one warm-up or sample (each aims at well under a second)
STOP_TIMEOUT = 10.0
GIT_TIMEOUT = 10.0
POLL = 0.5  # the longest a wait for a child blocks the main thread (and so Ctrl-C / SIGTERM)


class BenchError(RuntimeError):
    """A process of the benchmark did not start or answer."""


class NoAnswerError(BenchError):
    """A child did not answer in time (it may still be busy: its next answer is not to be trusted)."""


def clean_env(extra: Optional[dict[str, str]] = None) -> dict[str, str]:
    """The environment without proxy settings (requests reads them on every call) or PYTHONPATH."""
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy") and k != "PYTHONPATH"}
    env.update(extra or {})
    return env


def python_for(package: str) -> tuple[Optional[str], dict[str, str], str]:
    """(interpreter, environment, why not) for a worker needing ``package`` ("" for the floors)."""
    if not package:
        return sys.executable, clean_env(), ""
    if package == "httpcache":  # this source tree, as conformance/ does
        return sys.executable, clean_env({"PYTHONPATH": str(REPO)}), ""
    python = PEER_VENVS / f"venv-{package}" / "bin" / "python"
    if not python.exists():
        return None, {}, f"no {python}: run `python conformance/run.py --client {package}` once to create it"
    return str(python), clean_env(), ""


class Child:
    """A process we started, talking JSON lines over its stdin/stdout; stderr goes to a log."""

    def __init__(self, name: str, cmd: list[str], env: dict[str, str], logfile: Path) -> None:
        self.name = name
        self.logfile = logfile
        self._log = logfile.open("wb")
        log.debug("starting %s: %s", name, " ".join(cmd))
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            env=env,
            text=True,
            encoding="utf-8",
            start_new_session=True,  # Ctrl-C reaches only the runner, which stops us in order
        )
        self._lines: queue.Queue[Optional[str]] = queue.Queue()
        threading.Thread(target=self._read, args=(self.proc.stdout,), daemon=True).start()

    def _read(self, stream: Optional[TextIO]) -> None:
        assert stream is not None
        for line in stream:
            self._lines.put(line)
        self._lines.put(None)

    def receive(self, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:  # in short waits: a signal caught by another thread is handled within POLL seconds
            try:
                line = self._lines.get(timeout=max(0.0, min(POLL, deadline - time.monotonic())))
                break
            except queue.Empty:
                if time.monotonic() >= deadline:
                    raise NoAnswerError(f"{self.name}: no answer within {timeout:.0f} s; see {self.logfile}") from None
        if line is None:
            self.proc.wait(timeout=STOP_TIMEOUT)
            tail = self.logfile.read_text(errors="replace")[-2000:]
            raise BenchError(f"{self.name} exited {self.proc.returncode}; see {self.logfile}:\n{tail}")
        answer: dict[str, Any] = json.loads(line)
        if not answer.get("ok", True):
            raise BenchError(f"{self.name}: {answer.get('error', answer)}")
        return answer

    def close_log(self) -> None:
        with contextlib.suppress(OSError):
            self._log.close()

    def send(self, command: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps(command) + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, ValueError) as exc:
            raise BenchError(f"{self.name} is gone; see {self.logfile}") from exc

    def ask(self, command: dict[str, Any], timeout: float = COMMAND_TIMEOUT) -> dict[str, Any]:
        self.send(command)
        return self.receive(timeout)

    def stop(self) -> None:
        """Close its stdin (it exits at EOF), then SIGTERM, then SIGKILL; by PID only."""
        stop_all([self])


def stop_all(children: list[Child]) -> None:
    """Stop children together: close every stdin (each exits at EOF, after the command it is busy
    with), allow STOP_TIMEOUT in all, then SIGTERM the rest, then SIGKILL; by PID only."""
    running = [c for c in children if c.proc.poll() is None]
    try:
        for child in running:
            with contextlib.suppress(OSError, ValueError):
                assert child.proc.stdin is not None
                child.proc.stdin.close()
        for signal_them in (None, "terminate", "kill"):
            if signal_them is not None:
                for child in running:
                    if signal_them == "kill":
                        log.warning("%s (pid %d) ignored SIGTERM; killing it", child.name, child.proc.pid)
                    getattr(child.proc, signal_them)()
            deadline = time.monotonic() + STOP_TIMEOUT
            for child in running:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    child.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            running = [c for c in running if c.proc.poll() is None]
            if not running:
                break
    finally:
        for child in children:
            child.close_log()


@contextlib.contextmanager
def started(child: Child) -> Iterator[Child]:
    try:
        yield child
    finally:
        child.stop()


class Origin:
    """A running origin, asked for its counters over HTTP (run.py's: ``_origin.py``)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"

    def stats(self) -> dict[str, int]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request("GET", "/__stats")
            data: dict[str, int] = json.loads(conn.getresponse().read())
            return data
        finally:
            conn.close()


@contextlib.contextmanager
def origin(logfile: Path, *command: str) -> Iterator[Origin]:
    """The origin started with ``command`` (default ``_origin.py``) in this interpreter, once it has
    said its port; stopped on exit."""
    cmd = [sys.executable, *(command or (str(HERE / "_origin.py"),))]
    with started(Child("origin", cmd, clean_env(), logfile)) as child:
        yield Origin(int(child.receive(START_TIMEOUT)["port"]))


def machine() -> dict[str, str]:
    model = platform.processor() or "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    affinity = getattr(os, "sched_getaffinity", None)
    cpus = len(affinity(0)) if affinity is not None else (os.cpu_count() or 0)
    commit = "?"
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        git = ["git", "-C", str(REPO)]
        head = subprocess.run(
            [*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=GIT_TIMEOUT
        )
        dirty = subprocess.run([*git, "status", "--porcelain"], capture_output=True, text=True, timeout=GIT_TIMEOUT)
        commit = head.stdout.strip() + (" (uncommitted changes)" if dirty.stdout.strip() else "")
    info = {
        "cpus (nproc)": str(cpus),
        "cpu": model,
        "os": platform.platform(),
        "python": f"{platform.python_version()} ({platform.python_implementation()})",
        "commit": commit,
    }
    with contextlib.suppress(OSError, ValueError, IndexError):
        meminfo = Path("/proc/meminfo").read_text().splitlines()
        info["ram"] = f"{int(meminfo[0].split()[1]) / 1024 / 1024:,.1f} GiB"
    return info
