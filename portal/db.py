"""The one engine and session setup: pool limits, timeouts, metrics, transactions, paging.

No other module creates an engine, a session factory or a raw connection
(tests/test_db_layer.py enforces it).
"""
from __future__ import annotations

import logging
import math
import re
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import Any, Iterator, Sequence, cast

import psycopg.errors
from flask import Flask, current_app, g, has_app_context
from psycopg.rows import namedtuple_row
from sqlalchemy import create_engine, event, exc, text
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session, scoped_session
from sqlalchemy.pool import QueuePool

from . import clinic_time, metrics
from .extensions import db

log = logging.getLogger(__name__)

MAX_PAGE_SIZE = 100
# Services get a Session from transaction(); pages read through the scoped db.session.
AnySession = Session | scoped_session


class MeteredQueuePool(QueuePool):
    """QueuePool that counts checkouts that waited or timed out and keeps the pool gauges current."""

    def __init__(self, creator, checkout_timeout_s: float | None = None, **kw):
        # Flask-SQLAlchemy builds engines with engine_from_config, which turns pool_timeout into
        # an int (0.5 s would become 0): the precise timeout travels under its own name.
        super().__init__(creator, **kw)
        if checkout_timeout_s is not None:
            self._timeout = float(checkout_timeout_s)

    def recreate(self) -> QueuePool:
        pool = super().recreate()
        pool._timeout = self._timeout
        return pool

    def _do_get(self):
        # A checkout waits only when no idle connection is left and no overflow may be opened.
        if (self._max_overflow > -1 and self._overflow >= self._max_overflow
                and self._pool.qsize() == 0):
            metrics.POOL_WAITS.inc()
        started = time.monotonic()
        try:
            record = super()._do_get()
        except exc.TimeoutError:
            metrics.POOL_TIMEOUTS.inc()
            raise
        finally:
            spend(time.monotonic() - started)  # waiting for a connection is waiting on the database
        self.refresh_gauges()
        return record

    def _do_return_conn(self, record) -> None:
        # Gauges are set after the return (the checkin event fires before it).
        try:
            super()._do_return_conn(record)
        finally:
            self.refresh_gauges()

    def dispose(self) -> None:
        super().dispose()
        self.refresh_gauges()

    def refresh_gauges(self) -> None:
        """Publish this pool's figures (open, checked out, overflow in use)."""
        checked_out = self.checkedout()
        metrics.POOL_CHECKED_OUT.set(checked_out)
        metrics.POOL_OPEN.set(checked_out + self.checkedin())
        metrics.POOL_OVERFLOW.set(max(self.overflow(), 0))


POOLERS = ("", "pgbouncer")


def behind_pooler(config: dict) -> bool:
    """True when DATABASE_URL reaches PostgreSQL through PgBouncer in transaction mode."""
    pooler = str(config.get("DATABASE_POOLER") or "").strip().lower()
    if pooler not in POOLERS:
        raise RuntimeError(f"DATABASE_POOLER must be one of {POOLERS[1:]} or empty, not {pooler!r}")
    return bool(pooler)


def session_settings(config: dict) -> dict[str, str]:
    """The server settings every transaction runs with: the configured timeouts, in UTC."""
    return {"statement_timeout": str(int(config["DB_STATEMENT_TIMEOUT_MS"])),
            "lock_timeout": str(int(config["DB_LOCK_TIMEOUT_MS"])),
            "idle_in_transaction_session_timeout": str(int(config["DB_IDLE_IN_TX_TIMEOUT_MS"])),
            "TimeZone": "UTC"}


def engine_options(config: dict) -> dict[str, Any]:
    """Build SQLAlchemy engine options (pool and per-connection timeouts) from config.

    Straight to PostgreSQL the settings travel once per connection in the startup packet (libpq
    `options`). PgBouncer in transaction mode refuses that parameter and hands one server
    connection to many clients, so there each transaction sets them itself with SET LOCAL
    (`_set_per_transaction`), and psycopg prepares no statements: a statement prepared on one
    server connection does not exist on the next (PgBouncer 1.18 does not track them).
    """
    connect_args: dict[str, Any] = {"connect_timeout": int(config["DB_CONNECT_TIMEOUT_S"]),
                                    "application_name": config["DB_APPLICATION_NAME"]}
    if behind_pooler(config):
        connect_args["prepare_threshold"] = None
    else:
        connect_args["options"] = " ".join(f"-c {name}={value}" for name, value in session_settings(config).items())
    return {
        "poolclass": MeteredQueuePool,
        # Parameters (patient data, password hashes) stay out of error messages and logs.
        "hide_parameters": True,
        "pool_size": int(config["DB_POOL_SIZE"]),
        "max_overflow": int(config["DB_MAX_OVERFLOW"]),
        "checkout_timeout_s": float(config["DB_POOL_TIMEOUT_S"]),
        "pool_recycle": int(config["DB_POOL_RECYCLE_S"]),
        "pool_pre_ping": bool(config["DB_POOL_PRE_PING"]),
        "connect_args": connect_args,
    }


_SET_LOCAL = "SELECT " + ", ".join(f"set_config('{name}', %({name})s, true)" for name in
                                   ("statement_timeout", "lock_timeout", "idle_in_transaction_session_timeout",
                                    "TimeZone"))


def _set_per_transaction(engine, config: dict) -> None:
    """Behind a pooler: every transaction starts by setting the timeouts and zone for itself (SET LOCAL)."""
    settings = session_settings(config)

    @event.listens_for(engine, "begin")
    def set_local(conn) -> None:
        driver = conn.connection.driver_connection
        if driver is None or driver.autocommit:  # SET LOCAL outside a transaction does nothing
            return
        with driver.cursor() as cursor:
            cursor.execute(_SET_LOCAL, settings)


def sqlalchemy_url(url: str) -> str:
    """Make a libpq-style URL use the psycopg 3 driver."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def init_db(app: Flask) -> None:
    """Bind the single Flask-SQLAlchemy instance with the configured pool and timeouts."""
    if not app.config.get("SQLALCHEMY_DATABASE_URI"):
        raise RuntimeError("DATABASE_URL is not set (make run starts an embedded PostgreSQL)")
    app.config["SQLALCHEMY_DATABASE_URI"] = sqlalchemy_url(app.config["SQLALCHEMY_DATABASE_URI"])
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = engine_options(app.config)
    db.init_app(app)
    app.before_request(start_request_deadline)
    with app.app_context():
        if behind_pooler(app.config):
            _set_per_transaction(db.engine, app.config)
        _watch_deadline(db.engine)
    if app.config.get("DATABASE_REPLICA_URL"):
        app.extensions[_REPLICA] = Replica(app.config)
    app.teardown_appcontext(_close_report_session)
    app.add_template_global(report_source)


def pool_status() -> dict[str, int]:
    """Figures of this app's pool, for /metrics and tests."""
    pool = cast(QueuePool, db.engine.pool)
    if isinstance(pool, MeteredQueuePool):
        pool.refresh_gauges()
    return {
        "size": pool.size(),
        "checked_out": pool.checkedout(),
        "checked_in": pool.checkedin(),
        "overflow": max(pool.overflow(), 0),
        "max_overflow": getattr(pool, "_max_overflow", -1),
    }


def pool_exhausted() -> bool:
    """True when a checkout now would have to wait: nothing idle and no overflow left."""
    status = pool_status()
    return (status["max_overflow"] >= 0 and status["checked_in"] == 0
            and status["checked_out"] >= status["size"] + status["max_overflow"])


_PARAMETER = re.compile(r"(?<![:\w]):(\w+)")


@lru_cache(maxsize=64)  # callers pass their module constants (the benchmarks too, on plain psycopg)
def driver_sql(statement: str) -> str:
    """SQLAlchemy's `:name` parameters as psycopg's `%(name)s` (a literal % doubled)."""
    return _PARAMETER.sub(r"%(\1)s", statement.replace("%", "%%"))


def fetch(session: AnySession, statement: str, params: dict[str, Any]) -> list:
    """Run a hot path's SQL text in the session's transaction straight through psycopg; its rows.

    Through the session a statement costs about three times its psycopg cost in Python, and a
    booking request sends five. Errors come out as SQLAlchemy's, like any other statement's.
    """
    connection = session.connection()
    driver = connection.connection.driver_connection
    assert driver is not None  # a checked-out connection always has its psycopg connection
    _statement_starts(driver, connection.info)
    cursor = driver.cursor(row_factory=namedtuple_row)
    try:
        cursor.execute(driver_sql(statement), params)
    except psycopg.Error as error:
        raise exc.DBAPIError.instance(statement, None, error, psycopg.Error, hide_parameters=True) from None
    finally:
        _statement_ended()
    return cursor.fetchall() if cursor.rownumber is not None else []  # None: no result set


def rows_changed(session: AnySession, statement, params: dict[str, Any] | None = None) -> int:
    """Run an INSERT, UPDATE or DELETE in the session's transaction; how many rows it changed."""
    return cast(CursorResult, session.execute(statement, params)).rowcount


_DEPTH = "kliniki_transaction_depth"


@contextmanager
def transaction() -> Iterator[Session]:
    """Unit of work: commit when the block succeeds, roll back on any exception.

    Used inside another transaction() block (a service calling a service), it becomes a
    savepoint: its failure undoes only its own work, and only the outermost block commits.
    """
    session = cast(Session, db.session)  # the scoped session stands for this request's Session
    depth = session.info.get(_DEPTH, 0)
    session.info[_DEPTH] = depth + 1
    try:
        if depth:
            with session.begin_nested():
                yield session
            return
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
    finally:
        session.info[_DEPTH] = depth


# ---- one budget for all of a request's time on the database ---------------------
#
# statement_timeout and lock_timeout bound each statement, not a request: six statements that
# each wait on a held lock for 1.9 s keep the user waiting 11 s. Every request gets a budget
# (DB_REQUEST_DEADLINE_MS) that its statements and its waits for a connection use up. Before
# each statement, when less is left than the statement's own limits allow, both are lowered to
# what is left with SET LOCAL (set_config(..., true): transaction-scoped, so PgBouncer in
# transaction mode hands the connection on unchanged); once it is used up no statement starts.

_LEFT = "kliniki_db_left_s"
_STARTED = "kliniki_db_statement_started"
_IN_FORCE = "kliniki_timeouts_in_force"  # (statement, lock) ms set in this transaction
SLACK_MS = 100  # lower the limits only when that saves more than this (a fresh request sends no SET)
LOCK_FIRST_MS = 50
_CLEANUP = ("ROLLBACK", "RELEASE SAVEPOINT")


class DeadlineExceeded(exc.SQLAlchemyError):
    """The request's time for the database is used up; answered as "busy" (503)."""


def start_request_deadline() -> None:
    """before_request: this request may spend DB_REQUEST_DEADLINE_MS on the database in all."""
    budget_ms = int(current_app.config.get("DB_REQUEST_DEADLINE_MS") or 0)
    g.pop(_STARTED, None)
    if budget_ms > 0:
        setattr(g, _LEFT, budget_ms / 1000)
    else:
        g.pop(_LEFT, None)


def remaining_ms() -> int | None:
    """Milliseconds the current request has left for the database, or None without a budget."""
    if not has_app_context():
        return None
    left = g.get(_LEFT)
    return None if left is None else int(left * 1000)


def spend(seconds: float) -> None:
    """Count time the request spent on the database (a statement, a wait for a connection)."""
    if has_app_context() and g.get(_LEFT) is not None:
        setattr(g, _LEFT, g.get(_LEFT) - seconds)


def _limit_statement(dbapi_connection, info: dict) -> None:
    """Refuse a statement once the budget is used up; lower the timeouts of one that could overrun it."""
    left = remaining_ms()
    if left is None:
        return
    if left <= 0:
        raise DeadlineExceeded("the request's time for the database is used up")
    in_force = info.get(_IN_FORCE) or (int(current_app.config["DB_STATEMENT_TIMEOUT_MS"]),
                                       int(current_app.config["DB_LOCK_TIMEOUT_MS"]))
    # A lock wait cut short by the budget ends as a lock timeout (409, someone else holds it).
    wanted = (min(in_force[0], left + LOCK_FIRST_MS), min(in_force[1], left))
    if wanted[0] < in_force[0] - SLACK_MS or wanted[1] < in_force[1] - SLACK_MS:
        started = time.monotonic()
        with dbapi_connection.cursor() as cursor:  # set_config(..., true) is SET LOCAL
            cursor.execute("SELECT set_config('statement_timeout', %s, true), "
                           "set_config('lock_timeout', %s, true)", (str(wanted[0]), str(wanted[1])))
        info[_IN_FORCE] = wanted
        spend(time.monotonic() - started)


def _statement_starts(dbapi_connection, info: dict) -> None:
    _limit_statement(dbapi_connection, info)
    if has_app_context():
        setattr(g, _STARTED, time.monotonic())


def _statement_ended(*args) -> None:
    if has_app_context():
        started = g.pop(_STARTED, None)
        if started is not None:
            spend(time.monotonic() - started)


def _forget_timeouts(conn, *args) -> None:
    """A transaction (or savepoint) ended: its SET LOCAL values are gone with it."""
    if not conn.invalidated:  # an invalidated connection's info would try to reconnect
        conn.info.pop(_IN_FORCE, None)


def _watch_deadline(engine) -> None:
    @event.listens_for(engine, "before_cursor_execute")
    def before_statement(conn, cursor, statement, parameters, context, executemany):
        if statement.startswith(_CLEANUP):  # undoing a failed part must always run
            return
        _statement_starts(cursor.connection, conn.info)

    event.listen(engine, "after_cursor_execute", _statement_ended)
    event.listen(engine, "handle_error", _statement_ended)
    for name in ("begin", "commit", "rollback", "rollback_savepoint"):
        event.listen(engine, name, _forget_timeouts)


# ---- errors the user sees as "busy" rather than as a 500 -------------------

BUSY = "busy"      # pool exhausted or statement cancelled: 503, try again
LOCKED = "locked"  # lock not granted in time, serialization failure: 409


def classify_db_error(error: BaseException) -> str | None:
    """Return BUSY or LOCKED for errors that mean 'try again', else None."""
    if isinstance(error, (exc.TimeoutError, DeadlineExceeded)):
        return BUSY
    orig = getattr(error, "orig", error)
    if isinstance(orig, (psycopg.errors.LockNotAvailable, psycopg.errors.SerializationFailure,
                         psycopg.errors.DeadlockDetected)):
        return LOCKED
    if isinstance(orig, (psycopg.errors.QueryCanceled, psycopg.errors.IdleInTransactionSessionTimeout,
                         psycopg.errors.AdminShutdown, psycopg.errors.TooManyConnections,
                         psycopg.OperationalError, psycopg.InterfaceError)):
        return BUSY
    return None


# ---- bounded paging --------------------------------------------------------

def page_size(raw: Any, default: int = 25, maximum: int = MAX_PAGE_SIZE) -> int:
    """Parse a requested page size, clamped to 1..maximum; junk gives the default."""
    try:
        value = int(str(raw).strip())
    except (TypeError, ValueError):
        return default
    return max(1, min(value, maximum))


@dataclass
class Page:
    """One page of a keyset-paginated list."""

    items: Sequence[Any]
    next_cursor: str | None

    @property
    def has_more(self) -> bool:
        return self.next_cursor is not None


def fetch_page(session: AnySession, stmt, limit: int, cursor_of, scalars: bool = True) -> Page:
    """Run a keyset-ordered statement for limit+1 rows; the extra row only tells if more exist."""
    limit = page_size(limit)
    result = session.execute(stmt.limit(limit + 1))
    rows = list(result.scalars() if scalars else result)
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(rows, cursor_of(rows[-1]) if more and rows else None)


def time_cursor(at: datetime, row_id: int) -> str:
    """A keyset cursor for lists ordered by (timestamp, id): "<iso timestamp>|<id>"."""
    return f"{at.isoformat()}|{row_id}"


def parse_time_cursor(cursor: str | None) -> tuple[datetime, int] | None:
    """Parse a time_cursor; junk gives None (the first page), never an error."""
    if not cursor or len(cursor) > 80:
        return None
    at_text, _, id_text = cursor.partition("|")
    try:
        at, row_id = datetime.fromisoformat(at_text), int(id_text)
    except ValueError:
        return None
    if not 0 < row_id < 2**63:
        return None
    return (at if at.tzinfo else at.replace(tzinfo=timezone.utc)), row_id


# ---- reports from a read replica ---------------------------------------------
#
# Dashboards and reports read through report_session(): a streaming standby (DATABASE_REPLICA_URL)
# when one is configured, answering and no further behind than DB_REPLICA_MAX_LAG_S; the primary
# otherwise. Every clinical screen and every write keeps using db.session (the primary), so nobody
# reads back their own change from a copy that has not replayed it yet. The page says which it
# read (report_source(), shown by base.html): "figures as of 10:42:07, 3 s behind".

_REPLICA = "kliniki_replica"  # app.extensions: the Replica
_REPORT = "kliniki_report"  # g: (session, ReportSource) of this request

# How far behind the standby is: nothing when it has replayed all it received and is still
# streaming (a quiet primary sends nothing, so the last replayed commit's age would overstate it);
# else the age of the last transaction it replayed. A server that is not in recovery is not behind.
REPLICA_LAG_SQL = """
SELECT now() AS server_now,
       CASE WHEN NOT pg_is_in_recovery() THEN 0
            WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn()
                 AND EXISTS (SELECT 1 FROM pg_stat_wal_receiver WHERE status = 'streaming') THEN 0
            ELSE coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp()), 'Infinity')
       END::float8 AS behind_s"""


@dataclass(frozen=True)
class ReportSource:
    """Where this request's report figures were read, in words for the page."""

    replica: bool
    as_of: datetime | None = None
    behind_s: float = 0.0
    reason: str = ""  # why the primary: "behind" or "unavailable"

    @property
    def note(self) -> str:
        if self.replica and self.as_of is not None:
            return (f"Figures as of {clinic_time.local(self.as_of):%H:%M:%S}, "
                    f"{self.behind_s:.0f} s behind the main database.")
        if self.reason == "behind":
            return (f"The reporting copy is {self.behind_s:.0f} s behind: "
                    "these figures were read from the main database.")
        return "The reporting copy is unavailable: these figures were read from the main database."


class Replica:
    """The read replica's own small engine, and when it last failed."""

    def __init__(self, config: dict) -> None:
        replica_config = {**config, "DATABASE_POOLER": config.get("DATABASE_REPLICA_POOLER",
                                                                  config.get("DATABASE_POOLER", "")),
                          "DB_STATEMENT_TIMEOUT_MS": config.get("DB_REPLICA_STATEMENT_TIMEOUT_MS")
                          or config["DB_STATEMENT_TIMEOUT_MS"],
                          "DB_CONNECT_TIMEOUT_S": config.get("DB_REPLICA_CONNECT_TIMEOUT_S", 2),
                          "DB_APPLICATION_NAME": f"{config['DB_APPLICATION_NAME']}-reports"}
        options = engine_options(replica_config)
        # Its own plain pool: the pool gauges in /metrics stay the primary's.
        options.update(poolclass=QueuePool, pool_size=int(config.get("DB_REPLICA_POOL_SIZE", 2)),
                       max_overflow=int(config.get("DB_REPLICA_MAX_OVERFLOW", 2)),
                       pool_timeout=float(config["DB_POOL_TIMEOUT_S"]))
        del options["checkout_timeout_s"]
        self.engine = create_engine(sqlalchemy_url(config["DATABASE_REPLICA_URL"]), **options)
        if behind_pooler(replica_config):
            _set_per_transaction(self.engine, replica_config)
        _watch_deadline(self.engine)
        self.max_lag_s = float(config.get("DB_REPLICA_MAX_LAG_S", 30))
        self.retry_s = float(config.get("DB_REPLICA_RETRY_S", 10))
        self.down_until = 0.0  # after a failure, reports go to the primary until then

    def open(self) -> tuple[Session, ReportSource]:
        """A session on the replica and how far behind it is; the primary's when it is down or too far behind."""
        if time.monotonic() < self.down_until:
            return db.session(), ReportSource(False, reason="unavailable")
        session = Session(bind=self.engine)
        try:
            row = session.execute(text(REPLICA_LAG_SQL)).one()
        except (exc.DBAPIError, exc.TimeoutError, DeadlineExceeded) as error:
            session.close()
            self.down_until = time.monotonic() + self.retry_s
            log.warning("read replica unavailable, reports read from the primary: %s", type(error).__name__)
            return db.session(), ReportSource(False, reason="unavailable")
        if row.behind_s > self.max_lag_s:
            session.close()
            # Not streaming and nothing replayed yet: how far behind is unknown.
            reason = "behind" if math.isfinite(row.behind_s) else "unavailable"
            return db.session(), ReportSource(False, behind_s=row.behind_s, reason=reason)
        return session, ReportSource(True, as_of=row.server_now - timedelta(seconds=row.behind_s),
                                     behind_s=row.behind_s)


def report_session() -> Session:
    """The session this request's reports read through (the replica or, failing it, the primary)."""
    found = g.get(_REPORT)
    if found is not None:
        return found[0]
    replica = cast("Replica | None", current_app.extensions.get(_REPLICA))
    if replica is None:
        return db.session()
    session, source = replica.open()
    setattr(g, _REPORT, (session, source))
    return session


def report_source() -> ReportSource | None:
    """Where this request's reports were read (None: no report read, or no replica configured)."""
    found = g.get(_REPORT) if has_app_context() else None
    return found[1] if found is not None else None


def _close_report_session(error: BaseException | None = None) -> None:
    found = g.pop(_REPORT, None)
    if found is not None and found[1].replica:
        found[0].close()


def dispose_replica(app: Flask) -> None:
    """Close the replica's pooled connections (tests, shutdown)."""
    replica = app.extensions.get(_REPLICA)
    if replica is not None:
        replica.engine.dispose()
