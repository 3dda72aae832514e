"""Settings read from the environment, with safe defaults (README.md lists every variable)."""
import os
import secrets
from datetime import timedelta


def _int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def _float(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


def _bool(name: str, default: bool) -> bool:
    return os.environ.get(name, str(default)).strip().lower() in {"1", "true", "yes", "on"}


def instance_secret(instance_path: str) -> str:
    """A secret key kept under instance/, so sessions survive restarts and all workers agree."""
    path = os.path.join(instance_path, "secret_key")
    if not os.path.exists(path):
        os.makedirs(instance_path, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another worker created it first
            pass
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_hex(32))
    with open(path) as handle:
        return handle.read().strip()


class Config:
    """Configuration for one process; every value can be set from the environment."""

    def __init__(self, instance_path: str) -> None:
        self.SECRET_KEY = os.environ.get("SECRET_KEY") or instance_secret(instance_path)
        self.SQLALCHEMY_DATABASE_URI = os.environ.get("DATABASE_URL", "")
        # "pgbouncer" when DATABASE_URL is a PgBouncer in transaction mode (docs/scaling.md).
        self.DATABASE_POOLER = os.environ.get("DATABASE_POOLER", "")
        # A streaming standby that dashboards and reports read from (blank: they read the primary).
        self.DATABASE_REPLICA_URL = os.environ.get("DATABASE_REPLICA_URL", "")
        self.DATABASE_REPLICA_POOLER = os.environ.get("DATABASE_REPLICA_POOLER", self.DATABASE_POOLER)
        self.DB_REPLICA_MAX_LAG_S = _float("DB_REPLICA_MAX_LAG_S", 30)  # further behind: read the primary
        self.DB_REPLICA_RETRY_S = _float("DB_REPLICA_RETRY_S", 10)  # after a failure, the primary for this long
        self.DB_REPLICA_STATEMENT_TIMEOUT_MS = _int("DB_REPLICA_STATEMENT_TIMEOUT_MS", 5000)
        self.DB_REPLICA_CONNECT_TIMEOUT_S = _int("DB_REPLICA_CONNECT_TIMEOUT_S", 2)
        self.DB_REPLICA_POOL_SIZE = _int("DB_REPLICA_POOL_SIZE", 2)
        self.DB_REPLICA_MAX_OVERFLOW = _int("DB_REPLICA_MAX_OVERFLOW", 2)
        # Pool: workers x (DB_POOL_SIZE + DB_MAX_OVERFLOW) must stay under max_connections
        # minus a reserve (docs/operations.md works the numbers out).
        self.DB_POOL_SIZE = _int("DB_POOL_SIZE", 5)
        self.DB_MAX_OVERFLOW = _int("DB_MAX_OVERFLOW", 2)
        self.DB_POOL_TIMEOUT_S = _float("DB_POOL_TIMEOUT_S", 3)
        self.DB_POOL_RECYCLE_S = _int("DB_POOL_RECYCLE_S", 1800)
        self.DB_POOL_PRE_PING = _bool("DB_POOL_PRE_PING", True)
        self.DB_CONNECT_TIMEOUT_S = _int("DB_CONNECT_TIMEOUT_S", 5)
        self.DB_STATEMENT_TIMEOUT_MS = _int("DB_STATEMENT_TIMEOUT_MS", 5000)
        self.DB_LOCK_TIMEOUT_MS = _int("DB_LOCK_TIMEOUT_MS", 2000)
        self.DB_IDLE_IN_TX_TIMEOUT_MS = _int("DB_IDLE_IN_TX_TIMEOUT_MS", 15000)
        # All of one request's statements and its waits for a connection share this budget,
        # however many there are (0: no budget); portal/db.py applies it with SET LOCAL.
        self.DB_REQUEST_DEADLINE_MS = _int("DB_REQUEST_DEADLINE_MS", 5000)
        self.DB_APPLICATION_NAME = os.environ.get("DB_APPLICATION_NAME", "kliniki")
        self.CLINIC_TIMEZONE = os.environ.get("CLINIC_TIMEZONE", "Africa/Nairobi")
        self.CLINIC_NAME = os.environ.get("CLINIC_NAME", "Kliniki")
        self.SHIFT_HOURS = _int("SHIFT_HOURS", 12)
        # A signed-in session lasts one shift from sign-in, however active it is.
        self.PERMANENT_SESSION_LIFETIME = timedelta(hours=self.SHIFT_HOURS)
        # The cookie is set when the session changes, not on every response: its expiry
        # already matches the shift, and a static file must never re-issue a cleared session.
        self.SESSION_REFRESH_EACH_REQUEST = False
        self.SESSION_COOKIE_HTTPONLY = True
        self.SESSION_COOKIE_SAMESITE = "Lax"
        self.SESSION_COOKIE_SECURE = _bool("SESSION_COOKIE_SECURE", False)
        self.SESSION_COOKIE_NAME = "kliniki_session"
        self.REMEMBER_COOKIE_HTTPONLY = True
        self.WTF_CSRF_TIME_LIMIT = self.SHIFT_HOURS * 3600
        self.WTF_CSRF_SSL_STRICT = self.SESSION_COOKIE_SECURE
        # Number of reverse proxies in front whose X-Forwarded-For/-Proto are trusted.
        self.PROXY_COUNT = _int("PROXY_COUNT", 0)
        self.LOGIN_MAX_FAILURES_PER_IP = _int("LOGIN_MAX_FAILURES_PER_IP", 20)
        self.LOGIN_MAX_FAILURES_PER_ACCOUNT = _int("LOGIN_MAX_FAILURES_PER_ACCOUNT", 5)
        self.LOGIN_FAILURE_WINDOW_S = _int("LOGIN_FAILURE_WINDOW_S", 900)
        # Past the account's limit, an address it never signed in from waits this long after the
        # last failure, doubling with each further failure up to the maximum.
        self.LOGIN_LOCK_BASE_S = _int("LOGIN_LOCK_BASE_S", 60)
        self.LOGIN_LOCK_MAX_S = _int("LOGIN_LOCK_MAX_S", 900)
        self.METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")
        self.LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO").upper()
        self.IDEMPOTENCY_TTL_S = _int("IDEMPOTENCY_TTL_S", 24 * 3600)
        self.SLOT_WINDOW_WEEKS = _int("SLOT_WINDOW_WEEKS", 8)
        # How often each gunicorn worker checks whether the day's upkeep is due (0: never).
        self.UPKEEP_POLL_S = _float("UPKEEP_POLL_S", 60)
        self.MAX_CONTENT_LENGTH = 1024 * 1024
        # How old a waiting room or day grid a poll may be answered with, in seconds (0: read every poll).
        self.WAITING_ROOM_FRESH_S = _float("WAITING_ROOM_FRESH_S", 2)
        self.DAY_GRID_FRESH_S = _float("DAY_GRID_FRESH_S", 2)
        # Payments: what receipts print, reception's discount limit, the M-Pesa callback's secret.
        self.CLINIC_ADDRESS = os.environ.get("CLINIC_ADDRESS", "")
        self.CLINIC_KRA_PIN = os.environ.get("CLINIC_KRA_PIN", "")
        self.PAYMENTS_RECEPTION_DISCOUNT_PERCENT = _int("PAYMENTS_RECEPTION_DISCOUNT_PERCENT", 10)
        self.MPESA_CALLBACK_SECRET = os.environ.get("MPESA_CALLBACK_SECRET", "")
        # Comma-separated addresses allowed to call the M-Pesa confirmation URL (blank: any).
        self.MPESA_ALLOWED_IPS = os.environ.get("MPESA_ALLOWED_IPS", "")
