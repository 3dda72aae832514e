"""Server processes some tests put beside the test PostgreSQL: a PgBouncer in transaction mode and a
streaming standby (read replica) made with pg_basebackup from the embedded server's own binaries.

Both listen only on a Unix socket in a temporary directory of their own, so parallel runs never
fight over a TCP port. Run as root (CI containers), they run as the embedded server's user:
neither PgBouncer nor PostgreSQL starts as root.
"""
from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from contextlib import contextmanager
from urllib.parse import parse_qs, urlsplit

import psycopg

PGBOUNCER_PORT = 6432
STANDBY_PORT = 5433


def pgbouncer_binary() -> str | None:
    """The PgBouncer program (.ci/ensure-pgbouncer installs Debian's), or None."""
    for candidate in (os.environ.get("PGBOUNCER"), "/usr/sbin/pgbouncer", shutil.which("pgbouncer")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def pg_tool(tool: str) -> str:
    """A program shipped with the embedded server (pg_basebackup, pg_ctl, postgres)."""
    import pgserver
    return os.path.join(os.path.dirname(pgserver.__file__), "pginstall", "bin", tool)


def _run_as() -> str | None:
    """The user to run servers as when this process is root (None: as ourselves)."""
    if os.geteuid() != 0:
        return None
    for name in ("pgserver", "postgres", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    raise RuntimeError("running as root and no unprivileged user to run a server as")


def _own(path: str, user: str | None) -> None:
    if user is None:
        return
    entry = pwd.getpwnam(user)
    for root, dirs, files in os.walk(path):
        for name in [root, *(os.path.join(root, n) for n in dirs + files)]:
            os.chown(name, entry.pw_uid, entry.pw_gid)


def server_address(url: str) -> tuple[str, int]:
    """(host or socket directory, port) of a libpq URL."""
    parts = urlsplit(url.replace("postgresql+psycopg://", "postgresql://"))
    host = parse_qs(parts.query).get("host", [parts.hostname or "localhost"])[0]
    return host, parts.port or 5432


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def socket_url(directory: str, port: int, database: str, user: str = "postgres") -> str:
    return f"postgresql://{user}:@/{database}?host={directory}&port={port}"


def _wait_until_accepting(url: str, process: subprocess.Popen | None, log: str, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with psycopg.connect(url, connect_timeout=2):
                return
        except psycopg.OperationalError:
            if (process is not None and process.poll() is not None) or time.monotonic() > deadline:
                with open(log) as handle:
                    raise RuntimeError(f"server did not start: {handle.read()[-2000:]}") from None
            time.sleep(0.1)


@contextmanager
def pgbouncer(server_url: str, database: str = "postgres", pool_size: int = 40):
    """A PgBouncer in transaction mode in front of server_url; yields the URL of `database` through it."""
    binary = pgbouncer_binary()
    if binary is None:
        raise RuntimeError("PgBouncer is not installed (make test runs .ci/ensure-pgbouncer)")
    host, port = server_address(server_url)
    directory = tempfile.mkdtemp(prefix="kliniki-pgb-")
    ini, log = os.path.join(directory, "pgbouncer.ini"), os.path.join(directory, "pgbouncer.log")
    with open(os.path.join(directory, "users.txt"), "w") as handle:
        handle.write('"postgres" ""\n')
    with open(ini, "w") as handle:
        handle.write(f"""[databases]
* = host={host} port={port}

[pgbouncer]
unix_socket_dir = {directory}
listen_port = {PGBOUNCER_PORT}
auth_type = trust
auth_file = {directory}/users.txt
pool_mode = transaction
default_pool_size = {pool_size}
max_client_conn = 400
server_lifetime = 3600
logfile = {log}
pidfile = {directory}/pgbouncer.pid
""")
    user = _run_as()
    os.chmod(directory, 0o755)
    _own(directory, user)
    process = subprocess.Popen([binary, ini], user=user, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_until_accepting(socket_url(directory, PGBOUNCER_PORT, "postgres"), process, log)
        yield socket_url(directory, PGBOUNCER_PORT, database)
    finally:
        process.send_signal(signal.SIGINT)  # SIGINT: PgBouncer's "safe shutdown"
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(directory, ignore_errors=True)


class Standby:
    """A streaming standby of the test server, in a directory of its own."""

    def __init__(self, primary_url: str) -> None:
        self.primary_url = primary_url
        self.directory = tempfile.mkdtemp(prefix="kliniki-replica-")
        self.data = os.path.join(self.directory, "data")
        self.log = os.path.join(self.directory, "server.log")
        self.user = _run_as()

    def url(self, database: str) -> str:
        return socket_url(self.directory, STANDBY_PORT, database)

    def _run(self, *args: str) -> None:
        subprocess.run(args, user=self.user, check=True, capture_output=True, timeout=120)

    def create(self) -> None:
        """Copy the primary with pg_basebackup -R (writes standby.signal and primary_conninfo)."""
        host, port = server_address(self.primary_url)
        os.chmod(self.directory, 0o755)
        _own(self.directory, self.user)
        # --checkpoint=fast: do not wait for the primary's next scheduled checkpoint.
        self._run(pg_tool("pg_basebackup"), "-h", host, "-p", str(port), "-U", "postgres", "-D", self.data,
                  "-R", "-X", "stream", "--checkpoint=fast")

    def start(self) -> None:
        settings = f"-c listen_addresses='' -c unix_socket_directories={self.directory} -c port={STANDBY_PORT}"
        self._run(pg_tool("pg_ctl"), "-D", self.data, "-l", self.log, "-w", "-t", "60", "-o", settings, "start")
        _wait_until_accepting(self.url("postgres"), None, self.log)

    def stop(self) -> None:
        if os.path.exists(os.path.join(self.data, "postmaster.pid")):
            self._run(pg_tool("pg_ctl"), "-D", self.data, "-w", "-m", "immediate", "stop")

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


@contextmanager
def standby(primary_url: str):
    """A running streaming standby of the server at primary_url; yields the Standby."""
    replica = Standby(primary_url)
    try:
        replica.create()
        replica.start()
        yield replica
    finally:
        replica.remove()
