"""Liveness, readiness (database within 1 s) and Prometheus metrics."""
import hmac
import ipaddress
import threading
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

from flask import Response, abort, current_app, jsonify, request
from sqlalchemy import text

from .. import metrics
from ..auth.access import public
from ..db import pool_exhausted, pool_status
from ..extensions import db
from . import bp

READY_TIMEOUT_S = 1.0
_probe = ThreadPoolExecutor(max_workers=1, thread_name_prefix="readyz")
_probe_busy = threading.Lock()


def _database_answers(app) -> bool:
    try:
        with app.app_context():
            with db.engine.connect() as conn:
                conn.execute(text("SET LOCAL statement_timeout = 1000"))
                return conn.execute(text("SELECT 1")).scalar() == 1
    finally:
        _probe_busy.release()


def _not_ready(reason: str):
    return jsonify(status="unavailable", reason=reason), 503


@bp.route("/healthz")
@public
def healthz():
    return jsonify(status="ok")


@bp.route("/readyz")
@public
def readyz():
    if pool_exhausted():
        return _not_ready("connection pool exhausted")
    # One probe at a time, in a thread, so that a slow database cannot make readiness hang past 1 s
    # nor pile up probes.
    if not _probe_busy.acquire(blocking=False):
        return _not_ready("previous probe still waiting for the database")
    app = current_app._get_current_object()  # type: ignore[attr-defined]  # the real app, for the probe thread
    future = _probe.submit(_database_answers, app)
    try:
        ok = future.result(timeout=READY_TIMEOUT_S)
    except FutureTimeout:
        return _not_ready("database did not answer within 1 s")
    except Exception as error:  # any failure to reach the database means not ready
        return _not_ready(error.__class__.__name__)
    return (jsonify(status="ok"), 200) if ok else _not_ready("unexpected answer")


def _metrics_allowed() -> bool:
    token = current_app.config.get("METRICS_TOKEN")
    given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    if token and given and hmac.compare_digest(token.encode(), given.encode()):
        return True
    try:
        return ipaddress.ip_address(request.remote_addr or "").is_loopback
    except ValueError:
        return False


@bp.route("/metrics")
@public
def metrics_page():
    if not _metrics_allowed():
        abort(403)
    pool_status()  # publish this worker's pool figures as of now
    return Response(metrics.render_latest(), mimetype="text/plain; version=0.0.4")
