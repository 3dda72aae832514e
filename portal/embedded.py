"""The embedded PostgreSQL (pgserver wheel) used when no DATABASE_URL is given."""
from __future__ import annotations

import logging
import os
import warnings

log = logging.getLogger(__name__)

DEFAULT_DB = "kliniki"


def embedded_server(instance_path: str):
    """Start (or reuse) the embedded server whose data lives under instance/pgdata."""
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    import pgserver

    os.makedirs(instance_path, exist_ok=True)
    # cleanup_mode=None: the server outlives this process, like a local database would.
    return pgserver.get_server(os.path.join(instance_path, "pgdata"), cleanup_mode=None)


def ensure_database(server, name: str) -> None:
    """Create a database on the embedded server if it does not exist."""
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{name}';")
    if "(1 row)" not in exists:
        server.psql(f'CREATE DATABASE "{name}";')


def embedded_database_url(instance_path: str, name: str = DEFAULT_DB) -> str:
    """A libpq URL for database `name` on the embedded server, creating both as needed."""
    server = embedded_server(instance_path)
    ensure_database(server, name)
    return server.get_uri(name)


def server_running(instance_path: str) -> bool:
    """True when the embedded server under instance/pgdata is up."""
    return os.path.exists(os.path.join(instance_path, "pgdata", "postmaster.pid"))


def stop_server(instance_path: str) -> None:
    """Stop the embedded server (fast shutdown) if it is running."""
    if not server_running(instance_path):
        return
    from pathlib import Path

    from pgserver._commands import pg_ctl  # type: ignore[attr-defined]

    # pgserver runs PostgreSQL as the 'pgserver' system user when started by root.
    user = "pgserver" if hasattr(os, "geteuid") and os.geteuid() == 0 else None
    pg_ctl(["-w", "-m", "fast", "stop"], pgdata=Path(instance_path) / "pgdata", user=user)
