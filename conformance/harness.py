"""Process plumbing for run.py: suite install, peer venvs, origin, gateway, suite run."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

log = logging.getLogger("conformance")

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
WORK = HERE / ".work"
LOGS = WORK / "logs"
SUITE_NAME = "http-cache-tests"
SUITE_VERSION = "0.4.5"
SUITE_DIR = WORK / "node_modules" / SUITE_NAME
DRIVER = HERE / "driver.mjs"
PROXY = HERE / "proxy.py"

# Peers are installed into their own venv under .work/, pinned for repeatable tables.
PEERS: dict[str, tuple[str, str]] = {  # client -> (pip requirement, distribution name)
    "cachecontrol": ("cachecontrol==0.14.4", "cachecontrol"),
    "requests-cache": ("requests-cache==1.3.3", "requests-cache"),
    "hishel": ("hishel[requests]==2.0.0", "hishel"),
}
CLIENTS = ("none", "httpcache", "cachecontrol", "requests-cache", "hishel")

NPM_TIMEOUT = 300
PIP_TIMEOUT = 600
START_TIMEOUT = 30
SUITE_TIMEOUT = 600  # one selection takes ~20-60 s; this is only a safety net
STOP_TIMEOUT = 10


class HarnessError(RuntimeError):
    """Something in the set-up (not the client under test) went wrong."""


def run_cmd(cmd: list[str], timeout: float, **kw: Any) -> subprocess.CompletedProcess[str]:
    log.debug("running %s", " ".join(cmd))
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    except subprocess.TimeoutExpired as exc:
        raise HarnessError(f"timed out after {timeout}s: {' '.join(cmd)}") from exc
    if proc.returncode != 0:
        raise HarnessError(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    return proc


def ensure_suite() -> Path:
    """Install http-cache-tests from npm into .work/node_modules unless present."""
    pkg = SUITE_DIR / "package.json"
    if pkg.is_file() and json.loads(pkg.read_text()).get("version") == SUITE_VERSION:
        return SUITE_DIR
    WORK.mkdir(parents=True, exist_ok=True)
    log.info("installing %s@%s from npm into %s", SUITE_NAME, SUITE_VERSION, WORK)
    run_cmd(["npm", "install", "--prefix", str(WORK), "--no-save", "--no-audit", "--no-fund",
             "--omit=dev", "--ignore-scripts", f"{SUITE_NAME}@{SUITE_VERSION}"], NPM_TIMEOUT)
    if not pkg.is_file():
        raise HarnessError(f"npm install did not produce {pkg}")
    return SUITE_DIR


def client_python(client: str) -> tuple[str, dict[str, str]]:
    """Interpreter and extra environment the gateway runs with for a client."""
    env: dict[str, str] = {}
    if client in ("none", "httpcache"):
        if client == "httpcache":
            env["PYTHONPATH"] = os.pathsep.join(
                p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
        return sys.executable, env
    requirement, _ = PEERS[client]
    venv = WORK / f"venv-{client}"
    python = venv / "bin" / "python"
    requests_pin = f"requests=={metadata.version('requests')}"
    marker = venv / "conformance-requirements.txt"
    wanted = f"{requirement}\n{requests_pin}\n"
    if not (python.exists() and marker.is_file() and marker.read_text() == wanted):
        log.info("creating %s with %s, %s", venv, requirement, requests_pin)
        run_cmd([sys.executable, "-m", "venv", "--clear", str(venv)], PIP_TIMEOUT)
        run_cmd([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                 requirement, requests_pin], PIP_TIMEOUT)
        marker.write_text(wanted)
    return str(python), env


def client_version(client: str) -> str:
    if client == "none":
        return f"requests {metadata.version('requests')}"
    python, env = client_python(client)
    if client == "httpcache":  # the source tree in this repo
        code = "import httpcache; print(getattr(httpcache, '__version__', '?'))"
    else:
        code = f"import importlib.metadata as m; print(m.version({PEERS[client][1]!r}))"
    out = run_cmd([python, "-c", code], 60, env={**os.environ, **env}).stdout.strip()
    return f"{client} {out}"


def httpcache_available() -> bool:
    python, env = client_python("httpcache")
    code = "from httpcache import CacheControl"
    proc = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **env})
    if proc.returncode != 0:
        log.debug("httpcache not importable: %s", proc.stderr.strip()[-500:])
    return proc.returncode == 0


def stop(proc: subprocess.Popen[bytes], name: str) -> None:
    """Stop one child we started, by its PID: SIGTERM, then SIGKILL."""
    if proc.poll() is not None:
        return
    log.debug("stopping %s (pid %d)", name, proc.pid)
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        log.warning("%s (pid %d) ignored SIGTERM; killing", name, proc.pid)
        proc.kill()
        proc.wait(timeout=STOP_TIMEOUT)


def wait_for(predicate: Any, proc: subprocess.Popen[bytes], what: str, logfile: Path) -> Any:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if proc.poll() is not None:
            raise HarnessError(f"{what} exited {proc.returncode}; see {logfile}:\n"
                               f"{logfile.read_text()[-3000:]}")
        time.sleep(0.05)
    raise HarnessError(f"{what} did not start within {START_TIMEOUT}s; see {logfile}")


@contextlib.contextmanager
def origin_server(tag: str) -> Iterator[str]:
    """The suite's server on 127.0.0.1, any free port; yields its base URL."""
    LOGS.mkdir(parents=True, exist_ok=True)
    logfile = LOGS / f"server-{tag}.log"
    env = {**os.environ, "npm_config_port": "0", "npm_config_protocol": "http",
           "npm_config_pidfile": str(WORK / f"server-{tag}.pid")}
    with logfile.open("wb") as out:
        proc = subprocess.Popen(["node", str(DRIVER), "serve", str(SUITE_DIR)],
                                stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        def port() -> str | None:
            m = re.search(r"Listening on http://127\.0\.0\.1:(\d+)/", logfile.read_text())
            return m.group(1) if m else None
        yield f"http://127.0.0.1:{wait_for(port, proc, 'suite server', logfile)}"
    finally:
        stop(proc, "suite server")


@dataclass
class GatewayInfo:
    url: str
    stats_file: Path
    logfile: Path

    def stats(self) -> dict[str, int]:
        if not self.stats_file.is_file():
            raise HarnessError(f"gateway wrote no counters; see {self.logfile}")
        data: dict[str, int] = json.loads(self.stats_file.read_text())
        return data


@contextlib.contextmanager
def gateway(client: str, shared: bool, upstream: str, tag: str,
            verbose: bool = False) -> Iterator[GatewayInfo]:
    python, extra_env = client_python(client)
    logfile = LOGS / f"proxy-{tag}.log"
    ready = WORK / f"proxy-{tag}.ready.json"
    info = GatewayInfo("", WORK / f"proxy-{tag}.stats.json", logfile)
    for f in (ready, info.stats_file):
        f.unlink(missing_ok=True)
    cmd = [python, str(PROXY), "--upstream", upstream, "--client", client,
           "--ready-file", str(ready), "--stats-file", str(info.stats_file)]
    cmd += ["--shared"] if shared else []
    cmd += ["--verbose"] if verbose else []
    env = {**os.environ, **extra_env}
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"):
        env.pop(var, None)
    with logfile.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        def port() -> int | None:
            if not ready.is_file():
                return None
            value: int = json.loads(ready.read_text())["port"]
            return value
        info.url = f"http://127.0.0.1:{wait_for(port, proc, 'gateway', logfile)}"
        yield info
    finally:
        stop(proc, "gateway")


def list_tests(mode: str) -> list[dict[str, Any]]:
    out = run_cmd(["node", str(DRIVER), "list", str(SUITE_DIR), mode], 60).stdout
    tests: list[dict[str, Any]] = json.loads(out)
    return tests


def run_suite(mode: str, base_url: str, test_id: str | None = None) -> dict[str, Any]:
    """Run the selection against base_url; {"results": ..., "requests_sent": n}."""
    cmd = ["node", str(DRIVER), "run", str(SUITE_DIR), mode, base_url]
    cmd += [test_id] if test_id else []
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        out, err = proc.communicate(timeout=SUITE_TIMEOUT)
    except subprocess.TimeoutExpired as exc:
        raise HarnessError(f"suite run exceeded {SUITE_TIMEOUT}s") from exc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=STOP_TIMEOUT)
    if test_id:
        sys.stderr.write(err.decode(errors="replace"))
    if proc.returncode != 0:
        raise HarnessError(f"suite run exited {proc.returncode}:\n{err.decode()[-3000:]}")
    data: dict[str, Any] = json.loads(out)
    return data
