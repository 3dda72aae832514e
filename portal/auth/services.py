"""Sign-in with throttling (in PostgreSQL, so it holds across workers), server-side sessions and staff."""
from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_login import UserMixin
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..actor import Actor
from ..audit import record_audit
from ..db import fetch, transaction
from ..domain import DomainError, NotFound
from ..extensions import db
from ..models.staff import ROLES, LoginEvent, StaffSession, StaffUser
from ..validation import has_control_characters
from .passwords import hash_password, needs_rehash, password_problem, verify_password

USERNAME_MAX = 64
FULL_NAME_MAX = 120
USER_AGENT_MAX = 120
SEEN_EVERY_S = 300  # last_seen_at is written at most this often per session, not on every request
SESSIONS_KEPT_DAYS = 30  # ended sessions stay this long for the record, then go at the next sign-in
SESSIONS_SHOWN = 50


class StaffError(DomainError):
    """A staff change that cannot be made, with messages by field for the user."""

    def __init__(self, errors: dict[str, str]):
        field, message = next(iter(errors.items()))
        super().__init__(message, field=field)
        self.errors = errors


@dataclass(frozen=True)
class LoginLimits:
    """How failed sign-ins slow the next ones down (from the LOGIN_* settings)."""

    max_per_ip: int
    max_per_account: int
    window_s: int
    lock_base_s: int = 60
    lock_max_s: int = 900
    session_hours: int = 12

    @classmethod
    def from_config(cls, config) -> "LoginLimits":
        return cls(max_per_ip=int(config["LOGIN_MAX_FAILURES_PER_IP"]),
                   max_per_account=int(config["LOGIN_MAX_FAILURES_PER_ACCOUNT"]),
                   window_s=int(config["LOGIN_FAILURE_WINDOW_S"]),
                   lock_base_s=int(config["LOGIN_LOCK_BASE_S"]), lock_max_s=int(config["LOGIN_LOCK_MAX_S"]),
                   session_hours=int(config["SHIFT_HOURS"]))

    def account_wait_s(self, failures: int) -> int:
        """The wait after the last failure once an account has had `failures` of them in the window."""
        if failures < self.max_per_account:
            return 0
        over = min(failures - self.max_per_account, 20)
        return min(self.lock_base_s * 2 ** over, self.lock_max_s)


@dataclass
class LoginResult:
    user: "SignedInUser | None"
    throttled: bool = False
    wait_s: int = 0


# Failures that count against an account: in the window, after its last success and after an
# admin cleared them; throttled attempts were never checked and do not count (so hammering a
# locked account does not keep it locked).
_ACCOUNT_FAILURES = """
    SELECT count(*) AS failures, max(e.at) AS last_at FROM login_event e
    WHERE lower(e.username) = {name} AND NOT e.success AND NOT e.throttled
      AND e.at >= greatest(now() - make_interval(secs => :window), {cleared})
      AND e.id > (SELECT coalesce(max(ok.id), 0) FROM login_event ok
                  WHERE lower(ok.username) = {name} AND ok.success
                    AND ok.at >= now() - make_interval(secs => :window))"""

ATTEMPT_STATE_SQL = f"""
    SELECT (SELECT count(*) FROM login_event
            WHERE ip = :ip AND at >= now() - make_interval(secs => :window)
              AND NOT success AND NOT throttled) AS by_ip,
           f.failures, EXTRACT(EPOCH FROM now() - f.last_at) AS since_last,
           EXISTS (SELECT 1 FROM login_event
                   WHERE user_id = :user_id AND ip = :ip AND success) AS known_address
    FROM ({_ACCOUNT_FAILURES.format(name=":name", cleared="CAST(:cleared AS timestamptz)")}) f"""


def _attempt_state(session: Session, ip: str, username: str, user, window_s: int):
    return session.execute(text(ATTEMPT_STATE_SQL), {
        "ip": ip, "window": window_s, "name": username.lower(), "user_id": user.id if user else None,
        "cleared": user.lock_cleared_at if user else None}).one()


def _throttle(state, limits: LoginLimits) -> int:
    """Seconds this attempt must wait before its password is checked (0: check it now).

    The account's wait grows with each failure, but a sign-in from an address the account has
    signed in from before is never held back by it: the owner at their usual desk gets in while
    someone elsewhere guesses. The address limit holds for everyone.
    """
    if state.by_ip >= limits.max_per_ip:
        return limits.window_s
    if state.known_address:
        return 0
    wait = limits.account_wait_s(state.failures)
    return max(0, int(wait - float(state.since_last or 0) + 0.999)) if wait else 0


def authenticate(username: str, password: str, ip: str, user_agent: str,
                 limits: LoginLimits) -> LoginResult:
    """Check credentials unless the address or account must wait; record every attempt.

    The attempt is counted and recorded (as a failure) under advisory locks on the address and
    the account before the password is checked, so concurrent attempts from any number of
    workers each see the ones before them; a correct password then turns it into a success and
    opens a new server-side session.
    """
    username = username.strip()[:USERNAME_MAX]
    with transaction() as session:
        for key in sorted({f"login-ip:{ip}", f"login-user:{username.lower()}"}):
            session.execute(select(func.pg_advisory_xact_lock(func.hashtext(key))))
        user = session.execute(
            select(StaffUser.id, StaffUser.password_hash, StaffUser.is_active_flag,
                   StaffUser.lock_cleared_at)
            .where(func.lower(StaffUser.username) == username.lower())).first()
        wait_s = _throttle(_attempt_state(session, ip, username, user, limits.window_s), limits)
        event = LoginEvent(username=username, ip=ip, success=False, throttled=wait_s > 0,
                           user_id=user.id if user else None)
        session.add(event)
        session.flush()
        event_id = event.id
    if wait_s:
        return LoginResult(None, throttled=True, wait_s=wait_s)
    # The slow hash check runs with no transaction open and no lock held; it runs exactly once
    # whether or not the username exists (against a dummy hash when it does not).
    ok = verify_password(user.password_hash if user else None, password)
    if not (ok and user is not None and user.is_active_flag):
        return LoginResult(None)
    new_hash = hash_password(password) if needs_rehash(user.password_hash) else None
    with transaction() as session:
        changes: dict = {"last_login_at": func.now()}
        if new_hash:
            changes["password_hash"] = new_hash
        # Still the password just checked and still active: a reset or a deactivation that
        # landed during the hash check wins, and no session opens on the old password.
        still = session.execute(
            update(StaffUser).where(StaffUser.id == user.id, StaffUser.password_hash == user.password_hash,
                                    StaffUser.is_active_flag.is_(True))
            .values(**changes).returning(StaffUser.id)).scalar()
        if still is None:
            return LoginResult(None)
        session.execute(update(LoginEvent).where(LoginEvent.id == event_id).values(success=True))
        signed_in = _open_session(session, user.id, ip, user_agent, limits.session_hours)
    return LoginResult(signed_in)


# ---- server-side sessions ----------------------------------------------------------

_TOKEN = re.compile(r"[A-Za-z0-9_-]{32,64}")


def _token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


@dataclass(frozen=True)
class SignedInUser(UserMixin):
    """The member of staff behind a request: a read-only snapshot, loaded once per request."""

    id: int
    username: str
    full_name: str
    role: str
    session_id: int
    token: str

    def get_id(self) -> str:
        return f"{self.id}:{self.token}"


def _open_session(session: Session, user_id: int, ip: str | None, user_agent: str | None,
                  hours: int) -> SignedInUser:
    """A new session with a new random token (so the session id changes at every sign-in)."""
    session.execute(text(
        "DELETE FROM staff_session WHERE user_id = :user AND expires_at < now() - make_interval(days => :days)"),
        {"user": user_id, "days": SESSIONS_KEPT_DAYS})
    token = secrets.token_urlsafe(32)
    row = session.execute(text(
        "WITH opened AS (INSERT INTO staff_session (token_hash, user_id, expires_at, ip, user_agent) "
        "VALUES (:hash, :user, now() + make_interval(hours => :hours), :ip, :agent) RETURNING id) "
        "SELECT opened.id, u.username, u.full_name, u.role FROM opened, staff_user u WHERE u.id = :user"),
        {"hash": _token_hash(token), "user": user_id, "hours": hours, "ip": ip,
         "agent": (user_agent or "")[:USER_AGENT_MAX] or None}).one()
    return SignedInUser(user_id, row.username, row.full_name, row.role, row.id, token)


# One indexed read per request: the session must be open, unexpired, and its user active.
SIGNED_IN_SQL = (
    "SELECT u.id, u.username, u.full_name, u.role, s.id AS session_id, "
    f"s.last_seen_at < now() - interval '{SEEN_EVERY_S} seconds' AS stale "
    "FROM staff_session s JOIN staff_user u ON u.id = s.user_id "
    "WHERE s.token_hash = :token AND s.user_id = :id AND s.revoked_at IS NULL "
    "AND s.expires_at > now() AND u.is_active")


def load_user(token: str) -> SignedInUser | None:
    """Flask-Login loader: the cookie's session must still be open in the database."""
    user_part, _, session_token = token.partition(":")
    if not (user_part.isascii() and user_part.isdigit() and len(user_part) < 20
            and _TOKEN.fullmatch(session_token)):
        return None
    user_id = int(user_part)
    if not 0 < user_id < 2**63:
        return None
    rows = fetch(db.session, SIGNED_IN_SQL, {"id": user_id, "token": _token_hash(session_token)})
    if not rows:
        return None
    row = rows[0]
    if row.stale:
        with transaction() as session:
            session.execute(text("UPDATE staff_session SET last_seen_at = now() WHERE id = :id"),
                            {"id": row.session_id})
    return SignedInUser(row.id, row.username, row.full_name, row.role, row.session_id, session_token)


def end_session(token: str) -> None:
    """End one session (logout): its cookie no longer signs anyone in, on any worker."""
    with transaction() as session:
        session.execute(text("UPDATE staff_session SET revoked_at = now() "
                             "WHERE token_hash = :hash AND revoked_at IS NULL"), {"hash": _token_hash(token)})


def _end_sessions(session: Session, user_id: int, keep_session_id: int | None = None) -> int:
    ended = session.execute(text(
        "UPDATE staff_session SET revoked_at = now() WHERE user_id = :user AND revoked_at IS NULL "
        "AND id IS DISTINCT FROM CAST(:keep AS bigint) RETURNING id"), {"user": user_id, "keep": keep_session_id})
    return len(ended.all())


def end_all_sessions(user_id: int, actor: Actor, keep_session_id: int | None = None) -> int:
    """End every session of a member of staff (sign out everywhere, or an admin); how many ended."""
    with transaction() as session:
        if session.get(StaffUser, user_id) is None:
            raise NotFound("No such staff member.")
        ended = _end_sessions(session, user_id, keep_session_id)
        record_audit(session, actor, "staff.sessions_end", "staff_user", user_id,
                     detail={"ended": ended})
    return ended


@dataclass(frozen=True)
class OpenSession:
    id: int
    created_at: datetime
    last_seen_at: datetime
    ip: str | None
    user_agent: str | None


def open_sessions(user_id: int) -> list[OpenSession]:
    """The member's sessions that still sign in, most recently used first (bounded)."""
    rows = db.session.execute(
        select(StaffSession.id, StaffSession.created_at, StaffSession.last_seen_at, StaffSession.ip,
               StaffSession.user_agent)
        .where(StaffSession.user_id == user_id, StaffSession.revoked_at.is_(None),
               StaffSession.expires_at > func.now())
        .order_by(StaffSession.last_seen_at.desc()).limit(SESSIONS_SHOWN))
    return [OpenSession(*row) for row in rows]


# ---- what the admin sees: sessions and locks ---------------------------------------

@dataclass(frozen=True)
class AccountState:
    """An account's open sessions and, when failures hold it back, until when."""

    open_sessions: int
    failures: int
    locked_until: datetime | None


ACCOUNT_STATES_SQL = f"""
    SELECT u.id,
           (SELECT count(*) FROM staff_session s WHERE s.user_id = u.id AND s.revoked_at IS NULL
              AND s.expires_at > now()) AS open_sessions,
           f.failures, f.last_at
    FROM staff_user u
    CROSS JOIN LATERAL ({_ACCOUNT_FAILURES.format(name="lower(u.username)", cleared="u.lock_cleared_at")}) f
    WHERE u.id = ANY(:ids)"""


def account_states(user_ids: list[int], limits: LoginLimits) -> dict[int, AccountState]:
    """Open sessions and sign-in locks of the accounts on one page of the staff list."""
    if not user_ids:
        return {}
    rows = db.session.execute(text(ACCOUNT_STATES_SQL), {"ids": user_ids, "window": limits.window_s})
    states = {}
    for row in rows:
        wait = limits.account_wait_s(row.failures)
        until = row.last_at + timedelta(seconds=wait) if wait and row.last_at else None
        states[row.id] = AccountState(row.open_sessions, row.failures, until)
    return states


def clear_lock(user_id: int, actor: Actor) -> None:
    """Forget an account's failed sign-ins so far: it may be tried again at once, from anywhere."""
    with transaction() as session:
        done = session.execute(update(StaffUser).where(StaffUser.id == user_id)
                               .values(lock_cleared_at=func.now()).returning(StaffUser.id)).scalar()
        if done is None:
            raise NotFound("No such staff member.")
        record_audit(session, actor, "staff.unlock", "staff_user", user_id)


# ---- staff -------------------------------------------------------------------------

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
    problem = password_problem(password, username, full_name)
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
        if not active:
            _end_sessions(session, user_id)
    return user


def reset_password(user_id: int, password: str, keep_session_id: int | None = None) -> StaffUser:
    """Set a new password and end the member's sessions (all but `keep_session_id`)."""
    user = db.session.get(StaffUser, user_id)
    if user is None:
        raise StaffError({"form": "No such staff member."})
    problem = password_problem(password, user.username, user.full_name)
    if problem:
        raise StaffError({"password": problem})
    password_hash = hash_password(password)
    with transaction() as session:
        result = session.execute(
            update(StaffUser).where(StaffUser.id == user_id)
            .values(password_hash=password_hash, auth_version=StaffUser.auth_version + 1)
            .returning(StaffUser.id))
        if result.scalar() is None:
            raise StaffError({"form": "No such staff member."})
        _end_sessions(session, user_id, keep_session_id)
    return db.session.get_one(StaffUser, user_id)
