"""`make run`: find or start the database, migrate, seed demo data if empty, serve with gunicorn."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys

from flask_migrate import upgrade
from sqlalchemy import select

from . import ROOT, create_app
from .embedded import server_running, stop_server
from .extensions import db
from .models.staff import StaffUser
from .ops.upkeep import run_upkeep
from .seed import DEMO_PASSWORD, DEMO_STAFF, database_is_empty, seed_demo


def prepare() -> str:
    """Migrate and seed; returns the database URL gunicorn's workers should use."""
    app = create_app()
    with app.app_context():
        upgrade()
        if database_is_empty():
            seed_demo()
            print("\nDemo data loaded.")
        else:
            report = run_upkeep()
            print(f"\nThe database already holds data; kept as it is. Slots brought up to date: "
                  f"{report.slots_created} added, {report.slots_removed} removed.")
        logins = _demo_logins()
        if logins:
            print(f"Demo logins (password '{DEMO_PASSWORD}' unless changed):")
        for username, role in logins:
            print(f"  {username:<12} {role}")
    return app.config["SQLALCHEMY_DATABASE_URI"]


def _demo_logins() -> list[tuple[str, str]]:
    """The demo accounts present and active in this database."""
    names = [username for username, _, _ in DEMO_STAFF]
    rows = db.session.execute(
        select(StaffUser.username, StaffUser.role)
        .where(StaffUser.username.in_(names), StaffUser.is_active_flag.is_(True)))
    order = {name: index for index, name in enumerate(names)}
    return sorted(((u, r) for u, r in rows), key=lambda row: order[row[0]])


def port_in_use(bind: str) -> str | None:
    """Why `host:port` cannot be served (already taken), or None when it is free."""
    host, _, port = bind.rpartition(":")
    if not host or not port.isdigit():
        return None  # a unix socket or a form gunicorn itself will judge
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host.strip("[]"), int(port)))
        except OSError as error:
            return f"{bind} is already in use ({error.strerror}): is Kliniki already running?"
    return None


def main() -> None:
    bind = os.environ.get("BIND", "127.0.0.1:8000")
    problem = port_in_use(bind)
    if problem:
        sys.exit(problem)
    instance = os.path.join(ROOT, "instance")
    # Only a database this run starts is this run's to stop; one already up (tests, another run) stays.
    external = "DATABASE_URL" in os.environ
    started_db = not external and not server_running(instance)
    url = prepare()
    os.environ["DATABASE_URL"] = url
    print(f"\nKliniki is at http://{bind}/  (Ctrl+C stops it)\n", flush=True)
    gunicorn = os.path.join(os.path.dirname(sys.executable), "gunicorn")
    # A child, not exec: when gunicorn ends (Ctrl+C reaches both), the embedded database is stopped too.
    child = subprocess.Popen([gunicorn, "-c", os.path.join(ROOT, "gunicorn.conf.py"), "--bind", bind, "wsgi:app"])
    try:
        code = _wait(child)
    finally:
        print(stop_embedded(instance, started_db, external), flush=True)
    sys.exit(code)


def _wait(child: subprocess.Popen) -> int:
    """Wait for gunicorn; a Ctrl+C (sent to it as well by the terminal) lets it shut down gracefully."""
    while True:
        try:
            return child.wait()
        except KeyboardInterrupt:
            child.send_signal(signal.SIGINT)


def stop_embedded(instance: str, started_here: bool, external: bool = False) -> str:
    """Stop the embedded PostgreSQL when this run started it; say what happened either way."""
    if external:
        return "Kliniki stopped. The database at DATABASE_URL was not started here and keeps running."
    if not started_here:
        return ("Kliniki stopped. The embedded PostgreSQL under instance/pgdata was already running before "
                "and keeps running: `make db-stop` stops it.")
    try:
        stop_server(instance)
    except Exception as error:  # report, never hide: a database left running holds the port and the data
        return f"Kliniki stopped, but the embedded PostgreSQL could not be stopped ({error}): run `make db-stop`."
    return "Kliniki stopped, and the embedded PostgreSQL it started (instance/pgdata) too."


if __name__ == "__main__":
    main()
