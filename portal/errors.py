"""Error pages in the layout, and htmx fragments that show errors instead of swallowing them."""
from __future__ import annotations

import logging
from typing import NoReturn

from flask import Flask, abort, g
from flask_wtf.csrf import CSRFError
from sqlalchemy import exc as sa_exc
from werkzeug.exceptions import HTTPException

from . import metrics
from .db import BUSY, LOCKED, classify_db_error
from .domain import DomainError
from .extensions import db, login_manager
from .web import is_htmx, render_fragment

log = logging.getLogger(__name__)

MESSAGES = {
    400: ("Bad request", "The request could not be understood. Reload the page and try again."),
    401: ("Please sign in", "Your session has ended. Sign in again to continue."),
    403: ("Not allowed", "Your role does not give access to this page."),
    404: ("Not found", "There is nothing at this address."),
    405: ("Not allowed", "That action is not available here."),
    409: ("Someone else got there first",
          "This record is being changed by someone else right now. Try again in a moment."),
    413: ("Too large", "What you sent is too large."),
    422: ("Check the form", "Some of what was entered could not be accepted."),
    429: ("Too many attempts", "Too many attempts. Wait a few minutes and try again."),
    500: ("Something went wrong", "The error has been logged. Try again, or tell the admin."),
    503: ("Busy, try again", "The system is busy right now. Wait a moment and try again."),
}


def error_response(status: int, message: str | None = None, title: str | None = None):
    """The error page, or for htmx an alert swapped into the page's #flash region."""
    default_title, default_message = MESSAGES.get(status, MESSAGES[500])
    context = {"status_code": status, "title": title or default_title,
               "message": message or default_message, "request_id": g.get("request_id")}
    if is_htmx():
        return render_fragment("errors/_alert.html", status=status,
                               headers={"HX-Retarget": "#flash", "HX-Reswap": "innerHTML"},
                               **context)
    return render_fragment("errors/page.html", status=status, **context)


def fail(status: int, message: str, title: str | None = None) -> NoReturn:
    """Stop the request with a clear message for the user (page or htmx alert)."""
    abort(error_response(status, message, title))


def audit_write_failed():
    """The answer to send instead of patient data whose audit event could not be written."""
    log.exception("audit event not written; the page was withheld")
    _release_database()
    return error_response(503, "The system could not record this access, so the page was not shown. "
                               "Try again in a moment.")


def _release_database() -> None:
    """Roll back and give the connection back, so no error leaves one checked out.

    The page that follows must not touch the database again (the user row may be expired or
    never loaded), so the error page is drawn without the signed-in navigation.
    """
    try:
        db.session.rollback()
    except Exception:  # the connection may be gone; closing below discards it
        log.warning("rollback after an error failed", exc_info=True)
    db.session.remove()
    g._login_user = login_manager.anonymous_user()


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_failed(error):
        log.info("CSRF refused: %s", error.description)
        return error_response(400, "This form has expired or was not sent from Kliniki. "
                                   "Reload the page and try again.", "Form expired")

    @app.errorhandler(DomainError)
    def rule_refused(error: DomainError):
        # A rule's refusal that the view did not show on its form: the page or an htmx alert.
        db.session.rollback()
        return error_response(error.status, error.message, error.title)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        if error.code and error.code < 400:
            return error
        return error_response(error.code or 500)

    @app.errorhandler(sa_exc.SQLAlchemyError)
    def database_error(error):
        _release_database()
        kind = classify_db_error(error)
        if kind == LOCKED:
            metrics.DB_ERRORS.labels("locked").inc()
            log.warning("lock not granted: %s", str(error).splitlines()[0][:200])
            return error_response(409)
        if kind == BUSY:
            metrics.DB_ERRORS.labels("busy").inc()
            log.warning("database busy: %s", str(error).splitlines()[0][:200])
            return error_response(503)
        log.exception("database error")
        return error_response(500)

    @app.errorhandler(Exception)
    def unexpected(error):
        _release_database()
        log.exception("unhandled error")
        return error_response(500)
