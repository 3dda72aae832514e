"""Shared benchmark helpers: a throwaway database, gunicorn, logged-in HTTP clients, load, percentiles.

Typical use (see bench/booking.py):

    from harness import (bench_database, migrate, Gunicorn, Client, run_load, run_rounds,
                         summarize, print_table, load_average)

    with bench_database("search") as url:        # BENCH_DATABASE_URL as is, else a fresh db dropped after
        migrate(url)                             # the project's migrations (flask db upgrade)
        ...                                      # seed what you need with psycopg (COPY is fastest)
        with Gunicorn(url) as server:            # wsgi:app on a free port, gunicorn.conf.py's sizing
            login = lambda worker: Client(server.base_url).login("reception", "secret")
            result = run_load(32, lambda worker, i, client: client.get("/patients/?q=kam").status,
                              setup=login, duration_s=10)
            print(summarize(result), result.outcomes)   # ops, per_s, p50_ms, p95_ms; {200: n, ...}

`fresh_database()` always makes a throwaway database (on BENCH_DATABASE_URL's server if set).
`run_rounds()` lines all clients up at a barrier each round (a true collision, e.g. a hot slot).
`pg_bin("pgbench")` and `pg_env(url)` run the embedded server's own client programs.
Everything uses the standard library plus psycopg; nothing here touches the app's own engine.
"""
from __future__ import annotations

import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator
from urllib.parse import urlencode, urlsplit

import psycopg

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
VENV_BIN = os.path.dirname(sys.executable)


# ---- database ---------------------------------------------------------------

def server_url() -> str:
    """libpq URL of the server's `postgres` database: BENCH_DATABASE_URL's server, else the embedded one."""
    if os.environ.get("BENCH_DATABASE_URL"):
        return with_database(os.environ["BENCH_DATABASE_URL"], "postgres")
    from portal.embedded import embedded_server
    return embedded_server(os.path.join(ROOT, "instance")).get_uri("postgres")


def with_database(url: str, name: str) -> str:
    """The same server URL pointing at database `name`."""
    base, _, query = url.partition("?")
    base = re.sub(r"/[^/]*$", "", base.replace("postgresql+psycopg://", "postgresql://"))
    return f"{base}/{name}" + (f"?{query}" if query else "")


@contextmanager
def bench_database(prefix: str = "bench", use_env: bool = True) -> Iterator[str]:
    """Yield BENCH_DATABASE_URL as is (use_env), else a fresh database that is dropped afterwards."""
    if use_env and os.environ.get("BENCH_DATABASE_URL"):
        yield os.environ["BENCH_DATABASE_URL"]
        return
    with fresh_database(prefix) as url:
        yield url


@contextmanager
def fresh_database(prefix: str = "bench") -> Iterator[str]:
    """Create an empty database on the bench server, yield its URL, drop it afterwards."""
    admin = server_url()
    name = f"kliniki_{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield with_database(admin, name)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def migrate(url: str) -> None:
    """Build the schema with the project's migrations."""
    from flask_migrate import upgrade

    from portal import create_app
    from portal.extensions import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench"})
    with app.app_context():
        upgrade()
        db.engine.dispose()


def pg_bin(tool: str) -> str:
    """Path of a PostgreSQL client program shipped with the embedded server (pgbench, psql)."""
    import pgserver
    path = os.path.join(os.path.dirname(pgserver.__file__), "pginstall", "bin", tool)
    return path if os.path.exists(path) else (shutil.which(tool) or tool)


def pg_env(url: str) -> dict[str, str]:
    """Environment for a libpq program (pgbench, psql) to reach `url`, including socket-dir hosts."""
    parts = urlsplit(url.replace("postgresql+psycopg://", "postgresql://"))
    env = dict(os.environ)
    query = dict(p.split("=", 1) for p in parts.query.split("&") if "=" in p)
    env["PGHOST"] = query.get("host") or parts.hostname or "localhost"
    if parts.port:
        env["PGPORT"] = str(parts.port)
    if parts.username:
        env["PGUSER"] = parts.username
    if parts.password:
        env["PGPASSWORD"] = parts.password
    env["PGDATABASE"] = parts.path.lstrip("/") or "postgres"
    return env


# ---- gunicorn ---------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Gunicorn:
    """Serve wsgi:app with gunicorn against `database_url` on a free port (a context manager).

    Workers and threads are gunicorn.conf.py's unless given (then the pool is threads + 1)."""

    def __init__(self, database_url: str, workers: int | None = None, threads: int | None = None,
                 env: dict[str, str] | None = None, log_path: str | None = None):
        self.database_url = database_url
        self.workers, self.threads = workers, threads
        self.env = env or {}
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path or os.path.join(ROOT, "instance", f"bench-gunicorn-{self.port}.log")
        self.process: subprocess.Popen | None = None

    def start(self, timeout_s: float = 30) -> "Gunicorn":
        sizing = {}  # unless asked, the product's own defaults (gunicorn.conf.py, portal/config.py)
        if self.workers:
            sizing["WEB_WORKERS"] = str(self.workers)
        if self.threads:
            sizing.update(WEB_THREADS=str(self.threads), DB_POOL_SIZE=str(self.threads + 1))
        env = {**os.environ, "DATABASE_URL": self.database_url, "SECRET_KEY": "bench-secret",
               **sizing, **self.env}
        os.makedirs(os.path.dirname(self.log_path), exist_ok=True)
        log = open(self.log_path, "w")
        self.process = subprocess.Popen(
            [os.path.join(VENV_BIN, "gunicorn"), "-c", os.path.join(ROOT, "gunicorn.conf.py"),
             "--bind", f"127.0.0.1:{self.port}", "--log-level", "warning", "wsgi:app"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited; see {self.log_path}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    conn.close()
                    return self
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"gunicorn did not answer within {timeout_s}s; see {self.log_path}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None

    def connections_per_worker(self) -> list[int]:
        """Client connections each worker holds now, most first (read from Linux's /proc)."""
        held = set()
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            try:
                with open(table) as handle:
                    rows = [line.split() for line in handle][1:]
            except OSError:
                continue
            held |= {f"socket:[{row[9]}]" for row in rows
                     if int(row[1].rsplit(":", 1)[1], 16) == self.port and row[3] == "01"}
        counts = []
        for pid in _children(self.process.pid if self.process else 0):
            try:
                fds = os.listdir(f"/proc/{pid}/fd")
                counts.append(sum(1 for fd in fds if _readlink(f"/proc/{pid}/fd/{fd}") in held))
            except OSError:
                continue
        return sorted(counts, reverse=True)

    def __enter__(self) -> "Gunicorn":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _children(pid: int) -> list[int]:
    """Process ids whose parent is `pid`."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    if int(handle.read().rsplit(")", 1)[1].split()[1]) == pid:
                        found.append(int(entry))
            except (OSError, IndexError, ValueError):
                continue
    return found


def _readlink(path: str) -> str:
    try:
        return os.readlink(path)
    except OSError:
        return ""


# ---- HTTP client ------------------------------------------------------------

@dataclass
class Response:
    status: int
    body: str
    headers: dict[str, str]
    seconds: float


class Client:
    """One keep-alive HTTP/1.1 connection with its own cookies and CSRF token (one per thread).

    It speaks HTTP over a plain socket because the clients share the server's two cores:
    http.client parses each response's headers with the email package, and the booking
    benchmark's clients took 0.58 ms of CPU per booking with it, 0.30 ms without.
    """

    def __init__(self, base_url: str, timeout_s: float = 30):
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname, parts.port or 80
        self.timeout_s = timeout_s
        self.cookies: dict[str, str] = {}
        self.csrf: str | None = None
        self._sock: socket.socket | None = None
        self._reader = None

    def _connection(self):
        if self._sock is None:
            self._sock = socket.create_connection((self.host, self.port), timeout=self.timeout_s)
            self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._reader = self._sock.makefile("rb")
        return self._sock, self._reader

    def request(self, method: str, path: str, form: dict | None = None,
                headers: dict[str, str] | None = None) -> Response:
        """Send one request (form-encoded body if given); timed; retries once on a dropped keep-alive."""
        body = urlencode(form, doseq=True).encode() if form is not None else b""
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}", "Connection: keep-alive"]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        if form is not None:
            lines += ["Content-Type: application/x-www-form-urlencoded", f"Content-Length: {len(body)}"]
        if self.cookies:
            lines.append("Cookie: " + "; ".join(f"{k}={v}" for k, v in self.cookies.items()))
        message = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
        for attempt in (1, 2):
            started = time.perf_counter()
            try:
                sock, reader = self._connection()
                sock.sendall(message)
                status, received, data = _read_response(reader)
                elapsed = time.perf_counter() - started
                break
            except (ConnectionError, EOFError):
                self.close()
                if attempt == 2:
                    raise
        for name, value in received:
            if name == "set-cookie":
                key, _, val = value.split(";", 1)[0].partition("=")
                self.cookies[key.strip()] = val.strip()
        answer = dict(received)
        if answer.get("connection", "").lower() == "close":
            self.close()
        return Response(status, data.decode("utf-8", "replace"), answer, elapsed)

    def get(self, path: str, headers: dict[str, str] | None = None) -> Response:
        return self.request("GET", path, headers=headers)

    def post(self, path: str, form: dict, headers: dict[str, str] | None = None) -> Response:
        """POST a form with the session's CSRF token (form field and X-CSRFToken header)."""
        form = {"csrf_token": self.csrf or "", **form}
        return self.request("POST", path, form=form,
                            headers={"X-CSRFToken": self.csrf or "", **(headers or {})})

    def login(self, username: str, password: str) -> "Client":
        """Sign in through the real login form; keeps the session cookie and a CSRF token."""
        page = self.get("/login")
        self.csrf = csrf_from(page.body)
        answer = self.request("POST", "/login", form={"username": username, "password": password,
                                                      "csrf_token": self.csrf})
        if answer.status != 302:
            raise RuntimeError(f"login as {username} failed: HTTP {answer.status}")
        self.csrf = csrf_from(self.get(answer.headers.get("location", "/")).body)
        return self

    def close(self) -> None:
        if self._sock is not None:
            self._reader.close()
            self._sock.close()
            self._sock = self._reader = None


def _read_response(reader) -> tuple[int, list[tuple[str, str]], bytes]:
    """Status, headers (names lower-cased) and body of one response (Content-Length or chunked)."""
    status_line = reader.readline()
    if not status_line:
        raise EOFError("the server closed the connection")
    status = int(status_line.split(None, 2)[1])
    headers = []
    while (line := reader.readline()) not in (b"\r\n", b"\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        headers.append((name.strip().lower(), value.strip()))
    fields = dict(headers)
    if fields.get("transfer-encoding", "").lower() == "chunked":
        chunks = []
        while size := int(reader.readline().split(b";")[0], 16):
            chunks.append(reader.read(size))
            reader.readline()
        while reader.readline() not in (b"\r\n", b"\n", b""):
            pass  # trailers
        return status, headers, b"".join(chunks)
    return status, headers, reader.read(int(fields.get("content-length", 0)))


def csrf_from(html: str) -> str:
    """The CSRF token in a rendered page (hidden field or hx-headers)."""
    match = re.search(r'name="csrf_token" value="([^"]+)"', html) or \
        re.search(r'X-CSRFToken&#34;: &#34;([^&]+)&#34;', html) or \
        re.search(r'"X-CSRFToken": "([^"]+)"', html)
    if not match:
        raise RuntimeError("no CSRF token on the page")
    return match.group(1)


# ---- load -------------------------------------------------------------------

@dataclass
class LoadResult:
    """What a load run measured: per-operation latencies and outcomes, and the wall time."""

    seconds: float
    latencies: list[float] = field(default_factory=list)
    outcomes: dict[Any, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    @property
    def ops(self) -> int:
        return len(self.latencies)

    @property
    def per_second(self) -> float:
        return self.ops / self.seconds if self.seconds else 0.0


def _timed_call(operation: Callable[[int, int, Any], Any], worker: int, index: int, state: Any,
                result: "LoadResult", lock: threading.Lock, due: float | None = None) -> None:
    """Run one operation and record its outcome and latency; failures are counted, not raised
    (one failure must neither stop a timed run nor hang a round's barrier). With `due`, the
    latency counts from when the operation was due, so starting late counts as waiting."""
    started = time.perf_counter() if due is None else due
    try:
        outcome = operation(worker, index, state)
    except Exception as error:
        outcome = type(error).__name__
        with lock:
            if len(result.errors) < 5:
                result.errors.append(f"{outcome}: {str(error)[:200]}")
    elapsed = time.perf_counter() - started
    with lock:
        result.latencies.append(elapsed)
        result.outcomes[outcome] = result.outcomes.get(outcome, 0) + 1


def run_load(concurrency: int, operation: Callable[[int, int, Any], Any],
             setup: Callable[[int], Any] | None = None, duration_s: float | None = None,
             count: int | None = None, per_worker: int | None = None,
             rate_per_s: float | None = None) -> LoadResult:
    """Run `operation(worker, iteration, state)` from `concurrency` threads, all started together.

    `setup(worker)` builds each thread's state (e.g. a logged-in Client) before the clock starts.
    Stops after `duration_s`, or after `count` operations in total, or `per_worker` each (at least
    one bound is required). The operation's return value is counted in `outcomes`; an exception
    is counted as its class name and its first message kept in `errors`.
    Closed loop unless `rate_per_s` is given: then the operations are due at that total rate,
    evenly spread over the threads, each timed from when it was due (open loop).
    """
    if duration_s is None and count is None and per_worker is None:
        raise ValueError("give duration_s, count or per_worker")
    states = [setup(worker) if setup else None for worker in range(concurrency)]
    barrier = threading.Barrier(concurrency + 1)
    lock = threading.Lock()
    result = LoadResult(0.0)
    issued = [0]
    origin, deadline = [0.0], [float("inf")]

    def take_ticket() -> bool:
        with lock:
            if count is not None and issued[0] >= count:
                return False
            issued[0] += 1
            return True

    def worker_main(worker: int) -> None:
        barrier.wait()
        iteration = 0
        while time.perf_counter() < deadline[0]:
            if per_worker is not None and iteration >= per_worker:
                break
            due = None
            if rate_per_s:
                due = origin[0] + (iteration * concurrency + worker) / rate_per_s
                if due >= deadline[0]:
                    break
                time.sleep(max(0.0, due - time.perf_counter()))
            if not take_ticket():
                break
            _timed_call(operation, worker, iteration, states[worker], result, lock, due)
            iteration += 1

    threads = [threading.Thread(target=worker_main, args=(w,), daemon=True) for w in range(concurrency)]
    for thread in threads:
        thread.start()
    started = origin[0] = time.perf_counter()
    if duration_s is not None:
        deadline[0] = started + duration_s
    barrier.wait()
    for thread in threads:
        thread.join()
    result.seconds = time.perf_counter() - started
    return result


def run_rounds(concurrency: int, rounds: int, operation: Callable[[int, int, Any], Any],
               setup: Callable[[int], Any] | None = None) -> LoadResult:
    """`rounds` times, all `concurrency` threads call `operation(worker, round, state)` at the same moment.

    A barrier lines the threads up before every round, so each round is a true collision
    (e.g. every client booking the same hot slot at once). Outcomes and latencies as run_load.
    """
    states = [setup(worker) if setup else None for worker in range(concurrency)]
    barrier = threading.Barrier(concurrency)
    lock = threading.Lock()
    result = LoadResult(0.0)

    def worker_main(worker: int) -> None:
        for round_no in range(rounds):
            barrier.wait()
            _timed_call(operation, worker, round_no, states[worker], result, lock)

    threads = [threading.Thread(target=worker_main, args=(w,), daemon=True) for w in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result.seconds = time.perf_counter() - started
    return result


# ---- figures ----------------------------------------------------------------

def percentile(values: list[float], p: float) -> float:
    """The p-th percentile (0..100) by linear interpolation; 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summarize(result: LoadResult) -> dict[str, float]:
    """ops, ops/s, p50 and p95 in milliseconds."""
    return {"ops": result.ops, "per_s": result.per_second,
            "p50_ms": percentile(result.latencies, 50) * 1000,
            "p95_ms": percentile(result.latencies, 95) * 1000}


def print_table(headers: list[str], rows: list[list[Any]]) -> None:
    """Print rows under headers as an aligned plain-text table."""
    cells = [[str(h) for h in headers]] + [[_cell(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for index, row in enumerate(cells):
        print("  ".join(value.ljust(widths[i]) for i, value in enumerate(row)))
        if index == 0:
            print("  ".join("-" * w for w in widths))


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}"
    return "" if value is None else str(value)


def load_average() -> str:
    """The `uptime` load averages, to print beside figures measured on a shared machine."""
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"
