"""Login and logout."""
from urllib.parse import urlsplit

from flask import current_app, flash, redirect, request, session, url_for
from flask_login import current_user, login_user, logout_user

from ..validation import has_control_characters
from ..web import render
from . import bp
from .access import any_staff, public, start_shift_session
from .services import USERNAME_MAX, authenticate

PASSWORD_INPUT_MAX = 1024

HOME_BY_ROLE = {
    "admin": "dashboard.index",
    "reception": "schedule.day",
    "doctor": "schedule.my_day",
    "nurse": "schedule.day_list",  # nurses read and print the day's list
}


def home_url(user) -> str:
    """Where a role lands after login."""
    return url_for(HOME_BY_ROLE[user.role])


def _safe_next(target: str | None) -> str | None:
    """Only same-site relative paths are followed after login."""
    if not target:
        return None
    parts = urlsplit(target)
    if (parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//")
            or "\\" in target or has_control_characters(target)):
        return None
    return target


@bp.route("/login", methods=["GET", "POST"])
@public
def login():
    if current_user.is_authenticated:
        return redirect(home_url(current_user))
    error, status = None, 200
    username = request.form.get("username", "")
    if request.method == "POST":
        password = request.form.get("password", "")
        if not username.strip() or not password:
            error, status = "Enter your username and password.", 422
        elif (len(username) > USERNAME_MAX or len(password) > PASSWORD_INPUT_MAX
              or has_control_characters(username)):
            error, status = "Username or password is not right.", 422
        else:
            cfg = current_app.config
            result = authenticate(
                username, password, request.remote_addr or "unknown",
                max_per_ip=cfg["LOGIN_MAX_FAILURES_PER_IP"],
                max_per_account=cfg["LOGIN_MAX_FAILURES_PER_ACCOUNT"],
                window_s=cfg["LOGIN_FAILURE_WINDOW_S"])
            if result.throttled:
                error, status = "Too many failed attempts. Wait a few minutes and try again.", 429
            elif result.user is None:
                error, status = "Username or password is not right.", 401
            else:
                session.clear()
                start_shift_session()
                login_user(result.user)
                return redirect(_safe_next(request.args.get("next")) or home_url(result.user))
    shown = "" if has_control_characters(username) else username[:USERNAME_MAX]
    return render("auth/login.html", error=error, username=shown, status=status)


@bp.route("/logout", methods=["POST"])
@any_staff
def logout():
    logout_user()
    session.clear()
    flash("You are signed out.")
    return redirect(url_for("auth.login"))


@bp.route("/")
@public
def index():
    if current_user.is_authenticated:
        return redirect(home_url(current_user))
    return redirect(url_for("auth.login"))
