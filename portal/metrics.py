"""Prometheus metrics; shared across gunicorn workers when PROMETHEUS_MULTIPROC_DIR is set.

Every label value comes from a closed set the code defines (a route's pattern, never its path;
a known HTTP method; a status code; an error kind), so no name, username or patient datum a
client sends can reach a label, and the number of series stays bounded.
"""
import os

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def method_label(method: str) -> str:
    """The request's method as a label: one of METHODS, anything else (client-chosen text) is "other"."""
    return method if method in METHODS else "other"


def status_label(status: int) -> str:
    """A status code as a label (three digits; anything else is "other")."""
    return str(status) if 100 <= status <= 599 else "other"


REQUESTS = Counter("kliniki_requests_total", "HTTP requests", ["route", "method", "status"])
LATENCY = Histogram(
    "kliniki_request_seconds", "HTTP request latency", ["route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
POOL_OPEN = Gauge("kliniki_db_pool_connections_open", "Connections open in the pool",
                  multiprocess_mode="livesum")
POOL_CHECKED_OUT = Gauge("kliniki_db_pool_checked_out", "Connections checked out",
                         multiprocess_mode="livesum")
POOL_OVERFLOW = Gauge("kliniki_db_pool_overflow_in_use", "Connections open beyond the pool size",
                      multiprocess_mode="livesum")
POOL_WAITS = Counter("kliniki_db_pool_checkout_waits_total",
                     "Checkouts that found the pool full and had to wait")
POOL_TIMEOUTS = Counter("kliniki_db_pool_checkout_timeouts_total",
                        "Checkouts that gave up after the pool timeout")
DB_ERRORS = Counter("kliniki_db_errors_total", "Database errors shown to users", ["kind"])


def render_latest() -> bytes:
    """Return the metrics text, merged across worker processes when multiprocess."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest()
