"""gunicorn settings: gthread workers, counts from the environment (see docs/operations.md)."""
import glob
import os
import shutil
import tempfile

workers = int(os.environ.get("WEB_WORKERS", 2))
worker_class = "gthread"
threads = int(os.environ.get("WEB_THREADS", 2))
timeout = int(os.environ.get("WEB_TIMEOUT_S", 30))
graceful_timeout = 10
keepalive = 5
# Each worker listens on its own SO_REUSEPORT socket, so the kernel spreads connections evenly.
# On one shared socket the worker that had just answered won nearly every new connection:
# a browser's keep-alive connection stays with its worker, and one worker served 29 of 32 desks
# while the other idled (bench/booking.py). portal/serve.py refuses a port already in use, since
# SO_REUSEPORT would otherwise let a second server share it silently.
reuse_port = True
accesslog = None  # the app logs one line per request, with its request id
chdir = os.path.dirname(os.path.abspath(__file__))
# gunicorn's control socket lives at one fixed path per user: two servers on one machine
# (make run beside the test suite or a benchmark) would fight over it. Kliniki does not use it.
control_socket_disable = True

# Metrics from every worker are merged at scrape time through files in this folder. It must be
# in the environment before any worker imports prometheus_client (the app is not preloaded, so
# each worker imports it after the fork), and start empty so old workers' counts do not linger.
_own_metrics_dir = "PROMETHEUS_MULTIPROC_DIR" not in os.environ
if _own_metrics_dir:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="kliniki-metrics-")
else:
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)
    for stale in glob.glob(os.path.join(os.environ["PROMETHEUS_MULTIPROC_DIR"], "*.db")):
        os.remove(stale)

from prometheus_client import multiprocess  # noqa: E402  (after the folder is set)


def when_ready(server):
    # With reuse_port the master holds no socket, so gunicorn's own "Listening at:" line is empty.
    server.log.info("Workers listen at: %s (each on its own SO_REUSEPORT socket)", ", ".join(server.cfg.bind))


def post_worker_init(worker):
    """Each worker keeps the slot window rolling (portal/ops/upkeep.py)."""
    from portal.ops.upkeep import start_upkeep
    start_upkeep(worker.wsgi)


def child_exit(server, worker):
    """Drop a dead worker's live gauges (pool figures) from the merged metrics."""
    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    if _own_metrics_dir:
        shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
