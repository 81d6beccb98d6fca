"""Real origin servers for end-to-end tests: nginx and httpbin (under gunicorn).

Each runs in a subprocess on 127.0.0.1 with a configuration written into its own
temporary directory (pid file, logs, temp paths: nothing outside it, so it runs as
root or not), and is stopped by its PID. What reached the origin is read from the
server's own access log (method, path, status, the request headers that matter,
when it finished and how long it took), never counted on the client side.

``server.hits(path)`` counts a path's requests since the test began (``reset``);
``server.log_lines(path)`` gives them as ``Hit`` values. Both first ``sync``: a
marker request is sent and its line awaited, so every response the client has
already received is in the log.

A missing nginx or httpbin skips the test with the reason; with ``CI=true`` in the
environment it fails it instead (the house rule of ``stores_contract.redis_url``).
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn, Optional

import pytest

__all__ = [
    "HTTPBIN_THREADS",
    "NGINX_FILES",
    "Hit",
    "HttpbinServer",
    "LoggedServer",
    "NginxServer",
    "file_bytes",
    "start_httpbin",
    "start_nginx",
    "unavailable",
]

SYNC = "__sync"  # the query parameter (httpbin) or path (nginx) of marker requests
START_TIMEOUT = 15.0

# The files nginx serves, by URL path: (size, seed). Their mtime is set 10 days back
# (heuristic freshness, RFC 9111 §4.2.2: one day at most) unless the location says more.
NGINX_FILES: dict[str, tuple[int, int]] = {
    "/static/small.txt": (1_000, 1),
    "/static/medium.bin": (200_000, 2),
    "/static/large.bin": (8 * 1024 * 1024, 3),
    "/revalidate/doc.txt": (20_000, 4),
    "/lm/doc.txt": (20_000, 5),
    "/gz/text.txt": (120_000, 6),
    "/gzv/text.txt": (120_000, 7),
    "/expires/page.txt": (5_000, 8),
}


def unavailable(reason: str) -> NoReturn:
    """Skip the test; under ``CI=true`` fail it: CI must never skip a server silently."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true and {reason}", pytrace=False)
    pytest.skip(reason)


@functools.cache
def file_bytes(path: str) -> bytes:
    """The content of one of ``NGINX_FILES``: text for ``.txt`` (gzip compresses it), random bytes otherwise."""
    size, seed = NGINX_FILES[path]
    rng = random.Random(seed)
    if path.endswith(".txt"):
        words = [b"cache", b"origin", b"stale", b"fresh", b"validator", b"nginx", b"etag", b"vary"]
        out = bytearray()
        while len(out) < size:
            out += b" ".join(rng.choice(words) for _ in range(12)) + b"\n"
        return bytes(out[:size])
    return rng.randbytes(size)


@dataclass(frozen=True)
class Hit:
    """One access-log line: a request that reached the origin."""

    end: float  # wall clock (epoch seconds) when the server finished the response
    duration: float  # seconds the server spent on it
    method: str
    path: str
    query: str
    status: int
    sent: int  # body bytes sent
    headers: dict[str, str]  # the logged request headers that were present, lower-case names

    @property
    def start(self) -> float:
        return self.end - self.duration

    @property
    def conditional(self) -> bool:
        return "if-none-match" in self.headers or "if-modified-since" in self.headers


class LoggedServer:
    """A server on 127.0.0.1 whose access log the tests read."""

    def __init__(self, proc: subprocess.Popen[bytes], port: int, access_log: Path, error_log: Path) -> None:
        self.proc = proc
        self.port = port
        self.access_log = access_log
        self.error_log = error_log
        self._since = 0  # log lines before the current test

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    # -- reading the log

    def _parse(self, line: str) -> Optional[Hit]:
        raise NotImplementedError

    def _sync_path(self, token: str) -> str:
        raise NotImplementedError

    def _grace(self) -> None:
        """Time for a log line the server writes just after sending its last byte."""

    def _all(self) -> list[Hit]:
        try:
            text = self.access_log.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return []
        hits = []
        for line in text.splitlines():  # a line being written (no newline yet) parses as None
            hit = self._parse(line)
            if hit is not None:
                hits.append(hit)
        return hits

    def sync(self) -> None:
        """Send a marker request and wait for its log line: everything answered before is logged."""
        token = uuid.uuid4().hex
        with urllib.request.urlopen(self.url(self._sync_path(token)), timeout=10) as resp:
            resp.read()
        deadline = time.monotonic() + 10
        while not any(token in h.path or token in h.query for h in self._all()[self._since :]):
            if time.monotonic() > deadline:
                raise AssertionError(f"the marker request {token} never reached {self.access_log}")
            time.sleep(0.005)
        self._grace()

    def log_lines(self, path: Optional[str] = None) -> list[Hit]:
        """The requests that reached the server since ``reset`` (for ``path`` only, if given), in log order."""
        self.sync()
        hits = [h for h in self._all()[self._since :] if SYNC not in h.path and SYNC not in h.query]
        return [h for h in hits if path is None or h.path == path]

    def hits(self, path: str, *, status: Optional[int] = None, method: Optional[str] = None) -> int:
        """How many requests for ``path`` (with that status, that method) reached the server since ``reset``."""
        return sum(
            1
            for h in self.log_lines(path)
            if (status is None or h.status == status) and (method is None or h.method == method)
        )

    def statuses(self, path: str) -> list[int]:
        """The statuses the server answered ``path`` with, in order."""
        return [h.status for h in self.log_lines(path)]

    def reset(self) -> None:
        """Count from now on (each test starts at zero)."""
        self.sync()
        self._since = len(self._all())

    # -- process

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        """Stop the server by its PID: SIGTERM, then SIGKILL after 5 s."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _tail(path: Path, chars: int = 3000) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")[-chars:]
    except FileNotFoundError:
        return "(no log)"


# ---------------------------------------------------------------------------
# nginx


def nginx_binary() -> Optional[str]:
    """``$NGINX_BIN``, ``nginx`` on PATH, or where Debian and source builds put it."""
    candidates = [os.environ.get("NGINX_BIN", ""), shutil.which("nginx") or ""]
    candidates += ["/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx"]
    for candidate in candidates:
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


# The access log: one JSON object per line. $msec is when the response was finished.
NGINX_LOG_FORMAT = (
    "log_format httpcache escape=json '{"
    '"msec":"$msec","rt":"$request_time","method":"$request_method","uri":"$request_uri",'
    '"status":"$status","sent":"$body_bytes_sent",'
    '"if-none-match":"$http_if_none_match","if-modified-since":"$http_if_modified_since",'
    '"range":"$http_range","cache-control":"$http_cache_control","accept-encoding":"$http_accept_encoding",'
    '"authorization":"$http_authorization","etag-sent":"$sent_http_etag",'
    '"content-encoding-sent":"$sent_http_content_encoding"'
    "}';"
)

NGINX_CONF = """\
daemon off;
master_process off;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 256; }}
http {{
    {temp_paths}
    types {{ text/plain txt; application/octet-stream bin; text/html html; }}
    default_type application/octet-stream;
    {log_format}
    access_log {d}/access.log httpcache;
    sendfile on;
    keepalive_timeout 30s;
    server_tokens off;
    server {{
        listen 127.0.0.1:{port};
        server_name localhost;
        root {d}/www;
        location /static/ {{ }}
        location /revalidate/ {{ add_header Cache-Control "max-age=0"; }}
        location /lm/ {{ etag off; add_header Cache-Control "max-age=0"; }}
        location /gz/ {{
            add_header Cache-Control "max-age=0";
            gzip on; gzip_types text/plain application/json; gzip_min_length 0;
        }}
        location /gzv/ {{
            add_header Cache-Control "max-age=0";
            gzip on; gzip_types text/plain application/json; gzip_min_length 0; gzip_vary on;
        }}
        location /expires/ {{ expires 1h; }}
        location = /{sync} {{ return 204; }}
    }}
}}
"""


class NginxServer(LoggedServer):
    """nginx serving ``NGINX_FILES`` from its own root; see ``NGINX_CONF`` for the locations."""

    def __init__(self, proc: subprocess.Popen[bytes], port: int, access_log: Path, error_log: Path, root: Path) -> None:
        super().__init__(proc, port, access_log, error_log)
        self.root = root

    def _sync_path(self, token: str) -> str:
        return f"/{SYNC}?{token}"

    def _parse(self, line: str) -> Optional[Hit]:
        try:
            fields = json.loads(line)
        except ValueError:
            return None
        path, _, query = fields["uri"].partition("?")
        names = ("if-none-match", "if-modified-since", "range", "cache-control", "accept-encoding", "authorization")
        headers = {name: fields[name] for name in names if fields[name]}
        headers.update({name: fields[name] for name in ("etag-sent", "content-encoding-sent") if fields[name]})
        return Hit(
            end=float(fields["msec"]),
            duration=float(fields["rt"]),
            method=fields["method"],
            path=path,
            query=query,
            status=int(fields["status"]),
            sent=int(fields["sent"]),
            headers=headers,
        )


def _nginx_temp_paths(binary: str, directory: Path) -> str:
    """A temp path inside ``directory`` for each module the binary has (the defaults are under /var)."""
    built = subprocess.run([binary, "-V"], capture_output=True, text=True, check=False).stderr
    lines = [f"client_body_temp_path {directory}/client_body;"]
    for module in ("proxy", "fastcgi", "uwsgi", "scgi"):
        if f"--without-http_{module}_module" not in built:
            lines.append(f"{module}_temp_path {directory}/{module};")
    return "\n    ".join(lines)


@contextmanager
def start_nginx(directory: Path) -> Iterator[NginxServer]:
    """nginx on a free 127.0.0.1 port with its config, files and logs in ``directory``."""
    binary = nginx_binary()
    if binary is None:
        unavailable("nginx not found (install Debian's nginx-light, or set NGINX_BIN): the nginx tests need it")
    root = directory / "www"
    old = time.time() - 10 * 86400
    for url_path in NGINX_FILES:
        target = root / url_path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(file_bytes(url_path))
        os.utime(target, (old, old))
    root.chmod(0o755)  # readable whoever the worker runs as
    temp_paths = _nginx_temp_paths(binary, directory)
    error_log = directory / "error.log"
    for _attempt in range(5):  # another process may take the free port before nginx binds it
        port = _free_port()
        conf = directory / "nginx.conf"
        conf.write_text(
            NGINX_CONF.format(d=directory, port=port, temp_paths=temp_paths, log_format=NGINX_LOG_FORMAT, sync=SYNC)
        )
        access_log = directory / "access.log"
        access_log.unlink(missing_ok=True)
        with open(directory / "stderr.log", "wb") as stderr:
            proc = subprocess.Popen(
                [binary, "-p", str(directory), "-c", str(conf), "-e", str(error_log)],
                stdin=subprocess.DEVNULL,
                stdout=stderr,
                stderr=stderr,
            )
        server = NginxServer(proc, port, access_log, error_log, root)
        deadline = time.monotonic() + START_TIMEOUT
        while server.alive() and not _answers(port) and time.monotonic() < deadline:
            time.sleep(0.02)
        if server.alive() and _answers(port):
            break
        server.stop()
        if "Address already in use" not in _tail(error_log) + _tail(directory / "stderr.log"):
            raise RuntimeError(f"nginx did not start:\n{_tail(error_log)}\n{_tail(directory / 'stderr.log')}")
    else:
        raise RuntimeError(f"nginx found no free port:\n{_tail(error_log)}")
    try:
        yield server
    finally:
        server.stop()


# ---------------------------------------------------------------------------
# httpbin under gunicorn

HTTPBIN_WORKERS = 2
HTTPBIN_THREADS = 8  # per worker (gthread)

# Tab-separated; gunicorn writes a request header's '"' as '\\"' and an absent one as '-'.
HTTPBIN_HEADERS = ("if-none-match", "if-modified-since", "range", "cache-control", "authorization", "cookie")
HTTPBIN_ACCESS_FORMAT = "\t".join(["%(m)s", "%(U)s", "%(q)s", "%(s)s", "%(D)s", "%(B)s"]) + "".join(
    f"\t%({{{name}}}i)s" for name in HTTPBIN_HEADERS
)

GUNICORN_CONF = """\
# written by tests/_servers.py
bind = ["127.0.0.1:0"]
workers = {workers}
threads = {threads}
worker_class = "gthread"
keepalive = 30
timeout = 60
graceful_timeout = 1
pidfile = {d!r} + "/gunicorn.pid"
control_socket_disable = True  # gunicorn >= 24 would put one in $HOME; older ones ignore the name
access_log_format = {fmt!r}
logconfig_dict = {{
    "version": 1,
    "disable_existing_loggers": False,
    "root": {{"level": "INFO", "handlers": ["errors"]}},
    "loggers": {{
        "gunicorn.error": {{"level": "INFO", "handlers": ["errors"], "propagate": False}},
        "gunicorn.access": {{"level": "INFO", "handlers": ["access"], "propagate": False}},
    }},
    "handlers": {{
        "errors": {{"class": "logging.FileHandler", "filename": {d!r} + "/error.log", "formatter": "plain"}},
        "access": {{"class": "logging.FileHandler", "filename": {d!r} + "/access.log", "formatter": "timed"}},
    }},
    "formatters": {{
        "plain": {{"format": "%(asctime)s [%(process)d] [%(levelname)s] %(message)s"}},
        "timed": {{"format": "%(created).6f\\t%(message)s"}},
    }},
}}
"""


class HttpbinServer(LoggedServer):
    """httpbin (PyPI) under gunicorn: several workers, several threads each."""

    def _sync_path(self, token: str) -> str:
        return f"/status/204?{SYNC}={token}"

    def _grace(self) -> None:
        # gunicorn logs a request after its last byte, in the worker that served it, which
        # may not be the marker's: leave that write a moment
        time.sleep(0.03)

    def _parse(self, line: str) -> Optional[Hit]:
        fields = line.split("\t")
        if len(fields) != 7 + len(HTTPBIN_HEADERS):
            return None
        end, method, path, query, status, micros, sent = fields[:7]
        headers = {name: value.replace('\\"', '"') for name, value in zip(HTTPBIN_HEADERS, fields[7:]) if value != "-"}
        try:
            return Hit(
                end=float(end),
                duration=int(micros) / 1e6,
                method=method,
                path=path,
                query=query,
                status=int(status),
                sent=int(sent) if sent.isdigit() else 0,
                headers=headers,
            )
        except ValueError:
            return None


def httpbin_missing() -> Optional[str]:
    """Why httpbin cannot be served here, or None."""
    if sys.platform == "win32":
        return "gunicorn does not run on Windows: the httpbin tests need it"
    missing = [name for name in ("httpbin", "gunicorn") if importlib.util.find_spec(name) is None]
    if missing:
        return f"{' and '.join(missing)} not installed (pip install -e '.[test]'): the httpbin tests need them"
    return None


@contextmanager
def start_httpbin(directory: Path) -> Iterator[HttpbinServer]:
    """httpbin under gunicorn (this interpreter) on a port the kernel picks, logs in ``directory``."""
    reason = httpbin_missing()
    if reason is not None:
        unavailable(reason)
    conf = directory / "gunicorn.conf.py"
    conf.write_text(
        GUNICORN_CONF.format(
            d=str(directory), workers=HTTPBIN_WORKERS, threads=HTTPBIN_THREADS, fmt=HTTPBIN_ACCESS_FORMAT
        )
    )
    error_log, access_log = directory / "error.log", directory / "access.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GUNICORN_", "PYTHONWARNINGS"))}
    with open(directory / "stderr.log", "wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", str(conf), "--chdir", str(directory), "httpbin:app"],
            stdin=subprocess.DEVNULL,
            stdout=stderr,
            stderr=stderr,
            env=env,
        )
    server = HttpbinServer(proc, 0, access_log, error_log)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while server.alive() and time.monotonic() < deadline:
            if server.port == 0:  # "Listening at: http://127.0.0.1:PORT (pid)"
                for line in _tail(error_log, 100_000).splitlines():
                    if "Listening at: http://127.0.0.1:" in line:
                        server.port = int(line.split("127.0.0.1:", 1)[1].split()[0])
            if server.port and _answers(server.port):
                try:
                    server.reset()  # a worker answers (the marker is logged)
                    break
                except OSError:
                    pass
            time.sleep(0.05)
        else:
            raise RuntimeError(
                f"httpbin (gunicorn) did not start:\n{_tail(error_log)}\n{_tail(directory / 'stderr.log')}"
            )
        yield server
    finally:
        server.stop()
