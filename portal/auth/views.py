"""Login, logout, the user's own sessions and signing out everywhere."""
from urllib.parse import urlsplit

from flask import current_app, flash, redirect, request, session, url_for
from flask_login import current_user, login_user, logout_user

from ..validation import has_control_characters
from ..web import render
from . import bp
from .access import any_staff, current_actor, public, start_shift_session
from .services import (
    USER_AGENT_MAX,
    USERNAME_MAX,
    LoginLimits,
    authenticate,
    end_all_sessions,
    end_session,
    open_sessions,
)

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


def _wait_message(seconds: int) -> str:
    minutes = max(1, (seconds + 59) // 60)
    return (f"Too many failed attempts. Try again in {minutes} minute{'s' if minutes > 1 else ''}, "
            "sign in from a computer you have used before, or ask the admin to clear the lock.")


def _user_agent() -> str:
    agent = request.user_agent.string or ""
    return "" if has_control_characters(agent) else agent[:USER_AGENT_MAX]


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
            result = authenticate(username, password, request.remote_addr or "unknown", _user_agent(),
                                  LoginLimits.from_config(current_app.config))
            if result.throttled:
                error, status = _wait_message(result.wait_s), 429
            elif result.user is None:
                error, status = "Username or password is not right.", 401
            else:
                session.clear()
                start_shift_session()
                login_user(result.user)
                return redirect(_safe_next(request.args.get("next")) or home_url(result.user))
    shown = "" if has_control_characters(username) else username[:USERNAME_MAX]
    return render("auth/login.html", error=error, username=shown, status=status)


def _signed_out(message: str):
    logout_user()
    session.clear()
    flash(message)
    return redirect(url_for("auth.login"))


@bp.route("/logout", methods=["POST"])
@any_staff
def logout():
    end_session(current_user.token)
    return _signed_out("You are signed out.")


@bp.route("/account")
@any_staff
def account():
    return render("auth/account.html", sessions=open_sessions(current_user.id),
                  current_session=current_user.session_id)


@bp.route("/account/sign-out-everywhere", methods=["POST"])
@any_staff
def sign_out_everywhere():
    ended = end_all_sessions(current_user.id, current_actor())
    return _signed_out(f"You are signed out everywhere ({ended} session{'s' if ended != 1 else ''} ended).")


@bp.route("/")
@public
def index():
    if current_user.is_authenticated:
        return redirect(home_url(current_user))
    return redirect(url_for("auth.login"))
