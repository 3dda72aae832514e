"""Health, readiness and metrics, including Prometheus figures merged across real gunicorn workers."""
from __future__ import annotations

import glob
import http.client
import json
import os
import re
import socket
import subprocess
import sys
import time
from datetime import time as dt_time
from urllib.parse import urlencode

import pytest
from prometheus_client.mmap_dict import MmapedDict
from sqlalchemy import text

from portal import ROOT
from portal.extensions import db
from portal.serve import port_in_use
from tests.factories import make_doctor
from tests.helpers import PASSWORD, HttpSession, csrf_from


def test_healthz_answers_without_the_database(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.get_json() == {"status": "ok"}


def test_readyz_is_ok_when_the_database_answers(client):
    response = client.get("/readyz")
    assert response.status_code == 200 and response.get_json() == {"status": "ok"}


def test_readyz_is_503_at_once_when_the_pool_is_held(make_app):
    app = make_app(DB_POOL_SIZE=1, DB_MAX_OVERFLOW=0, DB_POOL_TIMEOUT_S=5)
    with app.app_context():
        engine = db.engine
    held = engine.connect()
    held.execute(text("SELECT 1"))
    try:
        started = time.monotonic()
        response = app.test_client().get("/readyz")
        elapsed = time.monotonic() - started
    finally:
        held.close()
    assert response.status_code == 503 and elapsed < 1.0
    assert response.get_json()["reason"] == "connection pool exhausted"
    assert app.test_client().get("/readyz").status_code == 200


def test_readyz_is_503_within_a_second_when_the_database_does_not_answer(make_app):
    silent = socket.socket()  # accepts TCP connections (backlog) but never speaks PostgreSQL
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    port = silent.getsockname()[1]
    try:
        app = make_app(SQLALCHEMY_DATABASE_URI=f"postgresql://nobody@127.0.0.1:{port}/nothing")
        client = app.test_client()
        started = time.monotonic()
        response = client.get("/readyz")
        elapsed = time.monotonic() - started
        assert response.status_code == 503 and 0.9 <= elapsed < 1.5
        assert response.get_json()["reason"] == "database did not answer within 1 s"
        started = time.monotonic()
        again = client.get("/readyz")  # the first probe still waits: no second one piles up
        assert again.status_code == 503 and time.monotonic() - started < 0.5
    finally:
        silent.close()


def test_metrics_are_served_to_loopback_or_with_the_token(make_app):
    app = make_app(METRICS_TOKEN="s3cret-token")
    client = app.test_client()
    client.get("/healthz")
    local = client.get("/metrics")
    assert local.status_code == 200 and local.mimetype == "text/plain"
    remote = {"environ_base": {"REMOTE_ADDR": "10.1.2.3"}}
    assert client.get("/metrics", **remote).status_code == 403
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}, **remote).status_code == 403
    assert client.get("/metrics", headers={"Authorization": "Bearer s3cret-token"}, **remote).status_code == 200
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "::1"}).status_code == 200


def test_metrics_without_a_token_configured_refuse_remote_callers(client):
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "192.168.1.5"}).status_code == 403
    assert client.get("/metrics", headers={"Authorization": "Bearer "},
                      environ_base={"REMOTE_ADDR": "192.168.1.5"}).status_code == 403


def test_metrics_text_has_requests_latency_and_pool_figures(client):
    client.get("/readyz")
    client.get("/no/such/page")
    body = client.get("/metrics").get_data(as_text=True)
    assert re.search(r'kliniki_requests_total\{method="GET",route="/readyz",status="200"\} \d', body)
    assert re.search(r'kliniki_requests_total\{method="GET",route="unmatched",status="404"\} \d', body)
    assert 'kliniki_request_seconds_bucket{le="0.005",route="/readyz"}' in body
    for name in ("kliniki_db_pool_connections_open", "kliniki_db_pool_checked_out",
                 "kliniki_db_pool_overflow_in_use", "kliniki_db_pool_checkout_waits_total",
                 "kliniki_db_pool_checkout_timeouts_total"):
        assert re.search(rf"^{name} \d", body, re.M), name


LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def test_no_name_or_client_text_reaches_a_metric_label(app, login_as, staff):
    """A client chooses the method, path and query; none of it may become a label value."""
    client = login_as("admin")
    for method in ("NURSE1", "Test Nurse", "GET"):
        client.open("/admin/staff?after=nurse1", method=method)
    client.get("/admin/staff/nurse1")
    client.get("/patients/?q=Test+Nurse")
    client.post("/patients/validate/nurse1", data={"first_name": "Test Nurse"})
    body = client.get("/metrics").get_data(as_text=True)
    assert "nurse1" not in body.lower() and "test nurse" not in body.lower()
    routes = {rule.rule for rule in app.url_map.iter_rules()} | {"unmatched"}
    allowed = {"route": lambda v: v in routes or v.startswith("/_test/"),  # other tests' own routes
               "method": {*metrics_methods(), "other"}.__contains__,
               "status": lambda v: v.isdigit() and len(v) == 3, "kind": {"busy", "locked"}.__contains__,
               "le": lambda v: v == "+Inf" or v.replace(".", "", 1).isdigit()}
    odd = [(name, value) for line in body.splitlines() if line.startswith("kliniki_")
           for name, value in LABEL.findall(line) if not allowed.get(name, lambda v: False)(value)]
    assert odd == []
    assert re.search(r'kliniki_requests_total\{method="other",route="unmatched",status="405"\} \d', body)


def metrics_methods():
    from portal.metrics import METHODS
    return METHODS


# ---- real gunicorn, two workers -----------------------------------------------------

def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def requests_by_worker(folder: str, route: str) -> dict[str, float]:
    """Requests to `route` counted in each worker's own metrics file."""
    counts = {}
    for path in glob.glob(os.path.join(folder, "counter_*.db")):
        pid = re.search(r"counter_(\d+)\.db", path).group(1)
        total = 0.0
        for key, value, *_ in MmapedDict.read_all_values_from_file(path):
            metric, sample, labels, _help = json.loads(key)
            if sample == "kliniki_requests_total" and labels.get("route") == route:
                total += value
        if total:
            counts[pid] = total
    return counts


@pytest.fixture
def gunicorn(database_url, tmp_path):
    """gunicorn with gunicorn.conf.py and 2 gthread workers on the test database; yields (url, metrics dir)."""
    port = free_port()
    folder = tmp_path / "metrics"
    folder.mkdir()
    (folder / "counter_1.db").write_bytes(b"stale")  # left by an earlier run: must be cleared
    env = {**os.environ, "DATABASE_URL": database_url, "SECRET_KEY": "gunicorn-test",
           "WEB_WORKERS": "2", "WEB_THREADS": "2", "PROMETHEUS_MULTIPROC_DIR": str(folder),
           "DB_POOL_SIZE": "2", "LOG_LEVEL": "WARNING", "UPKEEP_POLL_S": "0.5"}
    binary = os.path.join(os.path.dirname(sys.executable), "gunicorn")
    log = open(tmp_path / "gunicorn.log", "w+")
    server = subprocess.Popen([binary, "-c", os.path.join(ROOT, "gunicorn.conf.py"),
                               "--bind", f"127.0.0.1:{port}", "wsgi:app"],
                              cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, "gunicorn exited:\n" + (tmp_path / "gunicorn.log").read_text()
            pids = {re.search(r"_(\d+)\.db$", p).group(1) for p in glob.glob(str(folder / "gauge_livesum_*.db"))}
            try:
                up = HttpSession().request(f"{url}/healthz", timeout=2)[0] == 200
            except OSError:
                up = False
            if up and len(pids) >= 2:
                break
            assert time.monotonic() < deadline, "gunicorn did not start two workers in time"
            time.sleep(0.2)
        yield url, str(folder)
    finally:
        server.terminate()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(5)
        log.close()


class Desk:
    """A browser at a desk: one keep-alive connection with its session cookie.

    Like a browser it opens a new connection when the server has closed the idle one (gunicorn
    keeps an idle connection 5 s; 32 sign-ins take longer than that on a slow machine).
    """

    def __init__(self, url: str):
        host, port = url.removeprefix("http://").split(":")
        self.connection = http.client.HTTPConnection(host, int(port), timeout=10)
        self.cookies: dict[str, str] = {}

    def send(self, method: str, path: str, form: dict | None = None) -> tuple[int, str]:
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())} if self.cookies else {}
        body = urlencode(form) if form is not None else None
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            self.connection.request(method, path, body=body, headers=headers)
            response = self.connection.getresponse()
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            self.connection.close()  # http.client reconnects on the next request
            self.connection.request(method, path, body=body, headers=headers)
            response = self.connection.getresponse()
        text_ = response.read().decode()
        for cookie in response.msg.get_all("Set-Cookie") or []:  # each, as a browser keeps them
            name, _, value = cookie.split(";", 1)[0].partition("=")
            self.cookies[name] = value
        return response.status, text_

    def sign_in(self, username: str) -> "Desk":
        token = csrf_from(self.send("GET", "/login")[1])
        status, _ = self.send("POST", "/login", {"username": username, "password": PASSWORD,
                                                 "csrf_token": token})
        assert status == 302
        return self


def test_desks_signing_in_one_after_another_are_spread_over_both_workers(gunicorn, staff):
    url, folder = gunicorn
    desks = []
    try:
        for _ in range(32):  # the morning: desks open the portal one after another, and stay
            desks.append(Desk(url).sign_in("nurse1"))
        for desk in desks:
            for _ in range(3):
                assert desk.send("GET", "/schedule/list")[0] == 200
    finally:
        for desk in desks:
            desk.connection.close()
    by_worker = requests_by_worker(folder, "/schedule/list")
    # On one shared socket the worker that had just answered took nearly every new connection
    # (often all). The kernel now spreads them at random: fewer than 6 of 32 on one worker
    # happens about once in 10,000 runs.
    assert len(by_worker) == 2 and min(by_worker.values()) >= 6 * 3, by_worker


def port_listener(port: int) -> socket.socket:
    """A listening socket like a gunicorn worker's (SO_REUSEPORT) on 127.0.0.1:port."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen()
    return listener


def test_make_run_refuses_a_port_another_server_listens_on():
    port = free_port()
    assert port_in_use(f"127.0.0.1:{port}") is None
    with port_listener(port):
        problem = port_in_use(f"127.0.0.1:{port}")
    assert problem and "already in use" in problem and "Kliniki already running" in problem
    assert port_in_use(f"127.0.0.1:{port}") is None
    assert port_in_use("unix:/tmp/kliniki.sock") is None


def test_metrics_are_merged_across_two_gunicorn_workers(gunicorn):
    url, folder = gunicorn
    assert not os.path.exists(os.path.join(folder, "counter_1.db"))
    sent = 0
    while True:  # new connection each time; the kernel hands them to either worker
        for _ in range(20):
            status, _, headers = HttpSession().request(f"{url}/readyz")
            assert status == 200
            assert headers["X-Request-ID"]
            sent += 1
        by_worker = requests_by_worker(folder, "/readyz")
        if len(by_worker) >= 2 or sent >= 400:
            break
    assert len(by_worker) == 2, f"all {sent} requests went to one worker: {by_worker}"
    assert sum(by_worker.values()) == sent

    status, body, _ = HttpSession().request(f"{url}/metrics")
    assert status == 200
    assert f'kliniki_requests_total{{method="GET",route="/readyz",status="200"}} {float(sent)}' in body
    assert f'kliniki_request_seconds_count{{route="/readyz"}} {float(sent)}' in body
    assert f'kliniki_request_seconds_bucket{{le="+Inf",route="/readyz"}} {float(sent)}' in body
    # Each worker has opened at least one pooled connection; the live gauges add up across workers.
    opened = float(re.search(r"^kliniki_db_pool_connections_open (\S+)$", body, re.M).group(1))
    assert opened >= 2
    assert re.search(r"^kliniki_db_pool_checkout_timeouts_total 0\.0$", body, re.M)
    # Once idle, nothing is checked out in either worker. Each worker's upkeep thread holds a connection
    # while it runs (its first run starts 0.5 s after the worker), so on a busy machine this can take a moment.
    deadline = time.monotonic() + 15
    while not re.search(r"^kliniki_db_pool_checked_out 0\.0$", body, re.M):
        assert time.monotonic() < deadline, re.findall(r"^kliniki_db_pool_checked_out .*$", body, re.M)
        time.sleep(0.2)
        body = HttpSession().request(f"{url}/metrics")[1]


@pytest.fixture
def doctor_without_slots(app):
    """A doctor with weekly hours whose slots were never generated; returns the doctor's id."""
    return make_doctor(app, "Dr. Upkeep", "KMPDC-UP1", "General",
                       hours=[(day, "hours", dt_time(8), dt_time(12)) for day in range(7)])


def test_gunicorn_workers_keep_the_slot_window_rolling(app, doctor_without_slots, gunicorn):
    deadline = time.monotonic() + 30
    while True:
        with app.app_context():
            made = db.session.scalar(text("SELECT count(*) FROM slot WHERE doctor_id = :d"),
                                     {"d": doctor_without_slots})
            db.session.remove()
        if made >= 8 * 7 * 8 - 8:  # eight weeks of eight slots a day, less today's that may have passed
            break
        assert time.monotonic() < deadline, f"no upkeep pass within 30 s ({made} slots)"
        time.sleep(0.2)
