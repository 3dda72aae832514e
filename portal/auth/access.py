"""Who may use which view: every endpoint declares it, and one hook enforces it."""
from __future__ import annotations

import time
from collections.abc import Callable, Collection

from flask import abort, current_app, request, session
from flask_login import current_user, logout_user

from ..actor import Actor
from ..extensions import login_manager
from ..models.staff import ROLES
from .roles import ALL_STAFF

PUBLIC = frozenset({"*public*"})
ANY_STAFF = ALL_STAFF


def roles(*allowed: str | Collection[str]) -> Callable:
    """Declare which roles may use a view: role names, groups from portal.auth.roles, or both."""
    names: set[str] = set()
    for item in allowed:
        names.update({item} if isinstance(item, str) else item)
    unknown = names - set(ROLES)
    if unknown or not names:
        raise ValueError(f"unknown roles: {sorted(unknown)}")

    def declare(view: Callable) -> Callable:
        view.allowed_roles = frozenset(names)  # type: ignore[attr-defined]  # read by allowed_roles()
        return view

    return declare


def public(view: Callable) -> Callable:
    """Declare a view open to anyone, signed in or not."""
    view.allowed_roles = PUBLIC  # type: ignore[attr-defined]
    return view


def any_staff(view: Callable) -> Callable:
    """Declare a view open to every signed-in member of staff."""
    view.allowed_roles = ANY_STAFF  # type: ignore[attr-defined]
    return view


def allowed_roles(endpoint: str) -> frozenset | None:
    """The declared roles of an endpoint, or None when it declares nothing."""
    if endpoint == "static":
        return PUBLIC
    view = current_app.view_functions.get(endpoint)
    return getattr(view, "allowed_roles", None)


def may(endpoint: str, user=None) -> bool:
    """True when the user (the signed-in one by default) may use the endpoint, as its view declares."""
    user = current_user if user is None else user
    allowed = allowed_roles(endpoint)
    if allowed is None:
        return False
    if allowed is PUBLIC:
        return True
    return bool(getattr(user, "is_authenticated", False)) and user.role in allowed


def current_actor() -> Actor:
    """The signed-in user acting through this request, as a value for services."""
    if current_user.is_authenticated:
        return Actor(int(current_user.id), current_user.role, request.remote_addr)
    return Actor(None, "anonymous", request.remote_addr)


SIGNED_IN_AT = "signed_in_at"


def start_shift_session() -> None:
    """Mark the session's sign-in time; it ends one shift later, however active it is."""
    session.permanent = True
    session[SIGNED_IN_AT] = time.time()


def _shift_over() -> bool:
    lifetime = current_app.permanent_session_lifetime.total_seconds()
    return time.time() - float(session.get(SIGNED_IN_AT) or 0) > lifetime


def enforce_access():
    """before_request hook: refuse undeclared views, anonymous users and wrong roles."""
    if request.endpoint is None:  # no route matched: the 404 handler answers
        return None
    if "_user_id" in session and _shift_over():
        logout_user()
        session.clear()
    allowed = allowed_roles(request.endpoint)
    if allowed is None:
        current_app.logger.error("view %s declares no access; refused", request.endpoint)
        abort(403)
    if allowed is PUBLIC:
        return None
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    if current_user.role not in allowed:
        abort(403)
    return None
