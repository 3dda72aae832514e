"""Login with rate limiting (in PostgreSQL, so it holds across workers) and staff management."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from flask_login import UserMixin
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from ..db import fetch, transaction
from ..domain import DomainError
from ..extensions import db
from ..models.staff import ROLES, LoginEvent, StaffUser
from ..validation import has_control_characters
from .passwords import hash_password, password_problem, verify_password

USERNAME_MAX = 64
FULL_NAME_MAX = 120


class StaffError(DomainError):
    """A staff change that cannot be made, with messages by field for the user."""

    def __init__(self, errors: dict[str, str]):
        field, message = next(iter(errors.items()))
        super().__init__(message, field=field)
        self.errors = errors


@dataclass
class LoginResult:
    user: StaffUser | None
    throttled: bool = False


def _recent_failures(session, window_s: int, ip: str, username: str) -> tuple[int, int]:
    """Failures from this address in the window, and on this account since its last success."""
    since = datetime.now(timezone.utc) - timedelta(seconds=window_s)
    by_ip = session.scalar(
        select(func.count()).select_from(LoginEvent)
        .where(LoginEvent.ip == ip, LoginEvent.at >= since, LoginEvent.success.is_(False)))
    same_account = (func.lower(LoginEvent.username) == username.lower(), LoginEvent.at >= since)
    last_success = (select(func.coalesce(func.max(LoginEvent.id), 0))
                    .where(*same_account, LoginEvent.success.is_(True)).scalar_subquery())
    by_account = session.scalar(
        select(func.count()).select_from(LoginEvent)
        .where(*same_account, LoginEvent.success.is_(False), LoginEvent.id > last_success))
    return by_ip, by_account


def authenticate(username: str, password: str, ip: str, *, max_per_ip: int,
                 max_per_account: int, window_s: int) -> LoginResult:
    """Check credentials unless the address or account is throttled; record every attempt.

    The attempt is counted and recorded (as a failure) under advisory locks on the address and
    the account before the password is checked, so concurrent attempts from any number of
    workers each see the ones before them; a correct password then turns it into a success.
    """
    username = username.strip()[:USERNAME_MAX]
    with transaction() as session:
        for key in sorted({f"login-ip:{ip}", f"login-user:{username.lower()}"}):
            session.execute(select(func.pg_advisory_xact_lock(func.hashtext(key))))
        by_ip, by_account = _recent_failures(session, window_s, ip, username)
        throttled = by_ip >= max_per_ip or by_account >= max_per_account
        user = session.execute(
            select(StaffUser.id, StaffUser.password_hash, StaffUser.is_active_flag)
            .where(func.lower(StaffUser.username) == username.lower())).first()
        event = LoginEvent(username=username, ip=ip, success=False, user_id=user.id if user else None)
        session.add(event)
        session.flush()
        event_id = event.id
    if throttled:
        return LoginResult(None, throttled=True)
    # The slow hash check runs with no transaction open and no lock held.
    ok = verify_password(user.password_hash if user else None, password)
    if not (ok and user is not None and user.is_active_flag):
        return LoginResult(None)
    with transaction() as session:
        session.execute(update(LoginEvent).where(LoginEvent.id == event_id).values(success=True))
        session.execute(update(StaffUser).where(StaffUser.id == user.id).values(last_login_at=func.now()))
    return LoginResult(db.session.get(StaffUser, user.id))


@dataclass(frozen=True)
class SignedInUser(UserMixin):
    """The member of staff behind a request: a read-only snapshot, loaded once per request."""

    id: int
    username: str
    full_name: str
    role: str
    auth_version: int

    def get_id(self) -> str:
        return f"{self.id}:{self.auth_version}"


# One indexed read per request; only an active user with the session's auth version qualifies.
SIGNED_IN_SQL = ("SELECT id, username, full_name, role, auth_version FROM staff_user "
                 "WHERE id = :id AND auth_version = :version AND is_active")


def load_user(token: str) -> SignedInUser | None:
    """Flask-Login loader: the id must match and the auth version must still be current."""
    try:
        user_id, version = (int(part) for part in token.split(":"))
    except ValueError:
        return None
    if not (0 < user_id < 2**63 and 0 <= version < 2**31):
        return None
    rows = fetch(db.session, SIGNED_IN_SQL, {"id": user_id, "version": version})
    return SignedInUser(*rows[0]) if rows else None


def validate_staff(username: str, full_name: str, role: str) -> dict[str, str]:
    """Field errors for a new staff member, empty when all is well."""
    errors = {}
    if not username or len(username) > USERNAME_MAX:
        errors["username"] = f"Enter a username of 1 to {USERNAME_MAX} characters."
    elif not all(c.isalnum() or c in "._-" for c in username) or not username.isascii():
        errors["username"] = "Use letters, digits, dots, dashes and underscores only."
    if not full_name or len(full_name) > FULL_NAME_MAX:
        errors["full_name"] = f"Enter the full name (at most {FULL_NAME_MAX} characters)."
    elif has_control_characters(full_name):
        errors["full_name"] = "The name holds characters that are not allowed."
    if role not in ROLES:
        errors["role"] = "Choose one of the roles."
    return errors


def create_staff(username: str, full_name: str, role: str, password: str) -> StaffUser:
    """Add a staff member; raises StaffError with a message when refused."""
    username, full_name = username.strip(), full_name.strip()
    errors = validate_staff(username, full_name, role)
    problem = password_problem(password)
    if problem:
        errors["password"] = problem
    if errors:
        raise StaffError(errors)
    taken = StaffError({"username": "That username is taken."})
    if db.session.scalar(select(StaffUser.id).where(func.lower(StaffUser.username) == username.lower())):
        raise taken
    password_hash = hash_password(password)
    try:
        with transaction() as session:
            user = StaffUser(username=username, full_name=full_name, role=role,
                             password_hash=password_hash)
            session.add(user)
    except IntegrityError:  # the same username added at the same moment elsewhere
        raise taken from None
    return user


def set_active(user_id: int, active: bool, acting_user_id: int) -> StaffUser:
    """Activate or deactivate a staff member; deactivation ends their sessions."""
    if user_id == acting_user_id and not active:
        raise StaffError({"form": "You cannot deactivate your own account."})
    with transaction() as session:
        user = session.get(StaffUser, user_id, with_for_update=True)
        if user is None:
            raise StaffError({"form": "No such staff member."})
        user.is_active_flag = active
        user.auth_version = StaffUser.auth_version + 1
    return user


def reset_password(user_id: int, password: str) -> StaffUser:
    """Set a new password and end the member's existing sessions."""
    problem = password_problem(password)
    if problem:
        raise StaffError({"password": problem})
    with transaction() as session:
        result = session.execute(
            update(StaffUser).where(StaffUser.id == user_id)
            .values(password_hash=hash_password(password), auth_version=StaffUser.auth_version + 1)
            .returning(StaffUser.id))
        if result.scalar() is None:
            raise StaffError({"form": "No such staff member."})
    return db.session.get_one(StaffUser, user_id)
