"""Kliniki: the clinic portal's application factory."""
from __future__ import annotations

import logging
import os
import re
import time
import uuid
from urllib.parse import urlsplit

from flask import Flask, g, request
from flask_login import current_user
from werkzeug.routing import IntegerConverter

from .config import Config
from .db import init_db
from .extensions import csrf, db, login_manager, migrate

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def create_app(overrides: dict | None = None) -> Flask:
    """Build the app: config, extensions, blueprints, hooks and error pages."""
    app = Flask(__name__, template_folder=os.path.join(ROOT, "templates"),
                static_folder=os.path.join(ROOT, "static"),
                instance_path=os.path.join(ROOT, "instance"))
    app.config.from_object(Config(app.instance_path))
    app.config.update(overrides or {})
    if not app.config["SQLALCHEMY_DATABASE_URI"]:
        from .embedded import embedded_database_url
        app.config["SQLALCHEMY_DATABASE_URI"] = embedded_database_url(app.instance_path)
    _init_logging(app)
    if app.config["PROXY_COUNT"]:
        from werkzeug.middleware.proxy_fix import ProxyFix
        count = int(app.config["PROXY_COUNT"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count)  # type: ignore[method-assign]

    # An id too large for bigint is "not found", not a database error.
    app.url_map.converters["int"] = RowIdConverter

    from . import models  # noqa: F401  (register every table on the metadata)
    init_db(app)
    migrate.init_app(app, db, directory=os.path.join(ROOT, "migrations"), compare_type=True)
    _init_login(app)
    # Hooks before CSRF: a request from a signed-out user is sent to login, not refused as a bad form.
    _register_hooks(app)
    csrf.init_app(app)
    _register_blueprints(app)
    from .errors import register_error_handlers
    register_error_handlers(app)
    from .web import register_filters
    register_filters(app)
    from .cli import register_cli
    register_cli(app)
    return app


class RowIdConverter(IntegerConverter):
    """`<int:...>` URL parts limited to PostgreSQL's bigint range."""

    def __init__(self, map, *args, **kwargs):
        kwargs.setdefault("max", 2**63 - 1)
        super().__init__(map, *args, **kwargs)


def _init_logging(app: Flask) -> None:
    logging.basicConfig(level=app.config["LOG_LEVEL"],
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("pgserver").setLevel(logging.WARNING)


def _init_login(app: Flask) -> None:
    from flask import make_response, redirect, url_for

    from .auth.services import load_user
    from .web import is_htmx

    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please sign in to continue."
    login_manager.user_loader(load_user)

    @login_manager.unauthorized_handler
    def unauthorized():
        if is_htmx():
            # Come back to the page the fragment belongs to, not to the fragment itself.
            current = urlsplit(request.headers.get("HX-Current-URL", ""))
            back = current.path + (f"?{current.query}" if current.query else "")
            response = make_response("", 401)
            response.headers["HX-Redirect"] = url_for("auth.login", next=back or None)
            return response
        if request.method == "GET":
            back = request.full_path.rstrip("?")
        else:  # after signing in the browser makes a GET, which a form's URL may not answer
            referrer = urlsplit(request.referrer or "")
            same_site = referrer.netloc == request.host and referrer.path
            back = (referrer.path + (f"?{referrer.query}" if referrer.query else "")) if same_site else "/"
        return redirect(url_for("auth.login", next=back))


def _register_blueprints(app: Flask) -> None:
    from .admin import bp as admin_bp
    from .auth import bp as auth_bp
    from .dashboard import bp as dashboard_bp
    from .ops import bp as ops_bp
    from .patients import bp as patients_bp
    from .payments import bp as payments_bp
    from .records import bp as records_bp
    from .schedule import bp as schedule_bp

    app.register_blueprint(auth_bp)
    app.register_blueprint(ops_bp)
    app.register_blueprint(admin_bp, url_prefix="/admin")
    app.register_blueprint(schedule_bp, url_prefix="/schedule")
    app.register_blueprint(patients_bp, url_prefix="/patients")
    app.register_blueprint(records_bp, url_prefix="/records")
    app.register_blueprint(payments_bp, url_prefix="/payments")
    app.register_blueprint(dashboard_bp, url_prefix="/dashboard")


CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; "
       "form-action 'self'; frame-ancestors 'none'")

request_log = logging.getLogger("kliniki.request")
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def _request_id() -> str:
    """The caller's X-Request-ID when it is a plain token, else a new one."""
    given = request.headers.get("X-Request-ID", "")
    return given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex


def _register_hooks(app: Flask) -> None:
    from . import metrics
    from .auth.access import enforce_access
    from .web import mark_write

    @app.before_request
    def start_request():
        g.request_id = _request_id()
        g.started = time.perf_counter()

    app.before_request(enforce_access)
    app.after_request(mark_write)

    @app.after_request
    def finish_request(response):
        headers = response.headers
        headers["Content-Security-Policy"] = CSP
        headers["X-Content-Type-Options"] = "nosniff"
        headers["Referrer-Policy"] = "same-origin"
        headers["X-Frame-Options"] = "DENY"
        headers["X-Request-ID"] = g.get("request_id", "")
        if app.config["SESSION_COOKIE_SECURE"]:
            headers["Strict-Transport-Security"] = "max-age=31536000"
        response.vary.add("HX-Request")
        if request.endpoint != "static":
            # Pages may hold patient data: never kept by the browser or a proxy.
            headers["Cache-Control"] = "no-store"
        route = request.url_rule.rule if request.url_rule else "unmatched"
        elapsed = time.perf_counter() - g.get("started", time.perf_counter())
        metrics.REQUESTS.labels(route, metrics.method_label(request.method),
                                metrics.status_label(response.status_code)).inc()
        metrics.LATENCY.labels(route).observe(elapsed)
        if request.endpoint != "static":
            request_log.info("id=%s method=%s route=%s status=%s duration_ms=%.1f",
                             g.get("request_id"), request.method, route, response.status_code,
                             elapsed * 1000)
        return response

    @app.after_request
    def write_audit_events(response):
        # Runs before finish_request (after_request hooks run last-registered first), so the
        # write is timed; an answer whose audit event cannot be written is not sent.
        from .audit import write_pending_reads
        from .errors import audit_write_failed
        try:
            write_pending_reads()
        except Exception:
            return audit_write_failed()
        return response

    @app.context_processor
    def layout_context():
        from .auth.access import may
        from .nav import nav_for
        # A callable: fragments, which have no navigation, do not pay for building it.
        return {"nav_items": lambda: nav_for(current_user), "may": may}
