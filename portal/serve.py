"""`make run`: find or start the database, migrate, seed demo data if empty, serve with gunicorn."""
from __future__ import annotations

import os
import socket
import sys

from flask_migrate import upgrade
from sqlalchemy import select

from . import ROOT, create_app
from .extensions import db
from .models.staff import StaffUser
from .schedule.upkeep import run_upkeep
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
    url = prepare()
    os.environ["DATABASE_URL"] = url
    print(f"\nKliniki is at http://{bind}/  (Ctrl+C stops it)\n", flush=True)
    gunicorn = os.path.join(os.path.dirname(sys.executable), "gunicorn")
    os.execv(gunicorn, [gunicorn, "-c", os.path.join(ROOT, "gunicorn.conf.py"), "--bind", bind,
                        "wsgi:app"])


if __name__ == "__main__":
    main()
