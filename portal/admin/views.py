"""Staff list, add, activate/deactivate, password reset, sessions, sign-in locks and the audit trail (admin only)."""
from flask import current_app, flash, request, url_for
from flask_login import current_user
from sqlalchemy import select

from .. import validation
from ..audit import record_access
from ..auth.access import current_actor, roles
from ..auth.roles import ADMINS
from ..auth.services import (
    LoginLimits,
    StaffError,
    account_states,
    clear_lock,
    create_staff,
    end_all_sessions,
    reset_password,
    set_active,
)
from ..db import fetch_page, page_size
from ..domain import DomainError, NotFound
from ..extensions import db
from ..models.patients import Patient
from ..models.staff import ROLES, StaffUser
from ..web import redirect_to, render
from . import bp, queries

STAFF_PAGE = 50


def _staff_page(after: str | None, limit: int):
    """One page of staff ordered by username (keyset: usernames after `after`)."""
    stmt = select(StaffUser).order_by(StaffUser.username)
    if after:
        stmt = stmt.where(StaffUser.username > after)
    return fetch_page(db.session, stmt, limit, cursor_of=lambda user: user.username)


def _page(status: int = 200, block: str | None = None, errors=None, form=None, alert=None):
    page = _staff_page(validation.search_term(request.args.get("after"), 64),
                       page_size(request.args.get("limit"), STAFF_PAGE))
    states = account_states([user.id for user in page.items], LoginLimits.from_config(current_app.config))
    return render("admin/staff.html", block=block, status=status, page=page, roles=ROLES,
                  states=states, errors=errors or {}, form=form or {}, alert=alert)


@bp.route("/staff")
@roles(ADMINS)
def staff_list():
    return _page()


@bp.route("/staff", methods=["POST"])
@roles(ADMINS)
def staff_add():
    form = {k: request.form.get(k, "") for k in ("username", "full_name", "role", "password")}
    try:
        user = create_staff(form["username"], form["full_name"], form["role"], form["password"])
    except StaffError as error:
        form.pop("password")
        return _page(422, "staff_form", errors=error.errors, form=form)
    flash(f"Added {user.full_name} ({user.role}).")
    return redirect_to(url_for("admin.staff_list"))


@bp.route("/staff/<int:user_id>/active", methods=["POST"])
@roles(ADMINS)
def staff_set_active(user_id: int):
    choice = request.form.get("active")
    if choice not in {"0", "1"}:
        return _page(422, alert="Choose to activate or to deactivate.")
    try:
        user = set_active(user_id, choice == "1", current_user.id)
    except StaffError as error:
        return _page(422, alert=error.errors.get("form", "Not changed."))
    flash(f"{user.full_name} is now {'active' if user.is_active else 'deactivated'}.")
    return redirect_to(url_for("admin.staff_list"))


def _own_session(user_id: int) -> int | None:
    """The admin's own session survives what they do to their own account."""
    return current_user.session_id if user_id == current_user.id else None


@bp.route("/staff/<int:user_id>/password", methods=["POST"])
@roles(ADMINS)
def staff_reset_password(user_id: int):
    try:
        user = reset_password(user_id, request.form.get("password", ""), _own_session(user_id))
    except StaffError as error:
        return _page(422, alert=next(iter(error.errors.values())))
    flash(f"Password reset for {user.full_name}; their other sessions have ended.")
    return redirect_to(url_for("admin.staff_list"))


@bp.route("/staff/<int:user_id>/sessions/end", methods=["POST"])
@roles("admin")
def staff_end_sessions(user_id: int):
    try:
        ended = end_all_sessions(user_id, current_actor(), _own_session(user_id))
    except DomainError as error:
        return _page(error.status, alert=error.message)
    flash(f"Ended {ended} session{'s' if ended != 1 else ''}.")
    return redirect_to(url_for("admin.staff_list"))


@bp.route("/staff/<int:user_id>/unlock", methods=["POST"])
@roles("admin")
def staff_unlock(user_id: int):
    try:
        clear_lock(user_id, current_actor())
    except DomainError as error:
        return _page(error.status, alert=error.message)
    flash("Sign-in lock cleared: the account may be tried again at once.")
    return redirect_to(url_for("admin.staff_list"))


# ---- the audit trail -------------------------------------------------------------------

@bp.route("/patients/<int:patient_id>/access")
@roles(ADMINS)
def patient_access(patient_id: int):
    """Who opened or changed this patient's record, newest first."""
    patient = db.session.get(Patient, patient_id)
    if patient is None:
        raise NotFound("That patient does not exist.")
    cursor = validation.search_term(request.args.get("cursor"), 80)  # it is kept in the audit event
    page = queries.patient_access(db.session, patient_id, cursor, request.args.get("limit"))
    record_access(current_actor(), "audit.patient_access", [patient_id], detail={"cursor": cursor} if cursor else None)
    return render("admin/patient_access.html", patient=patient, page=page, cursor=cursor)


@bp.route("/staff/<int:user_id>/activity")
@roles(ADMINS)
def staff_activity(user_id: int):
    """What one member of staff did and opened, newest first."""
    user = db.session.get(StaffUser, user_id)
    if user is None:
        raise NotFound("That member of staff does not exist.")
    cursor = validation.search_term(request.args.get("cursor"), 80)
    page = queries.user_activity(db.session, user_id, cursor, request.args.get("limit"))
    record_access(current_actor(), "audit.user_activity", [row.patient_id for row in page.items if row.first_name],
                  entity="staff_user", entity_id=user_id, detail={"cursor": cursor} if cursor else None)
    return render("admin/staff_activity.html", user=user, page=page, cursor=cursor)
