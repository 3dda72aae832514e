"""Login, rate limiting across workers, CSRF, session cookies, logout, deactivation and password reset."""
from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime

import pytest

from portal.auth.access import SIGNED_IN_AT
from tests.helpers import PASSWORD, HttpSession, admin_connection, count_rows, csrf_from, login, running

SECRET = "Zebra-Quartz-91!pass"


def events(database_url):
    with admin_connection(database_url) as conn:
        return conn.execute("SELECT username, ip, success, user_id, at FROM login_event ORDER BY id").fetchall()


# ---- recording and hashing --------------------------------------------------

@pytest.mark.pgbouncer  # run again through PgBouncer by make test
def test_failed_and_successful_logins_are_recorded_with_time_and_address(client, staff, database_url):
    before = datetime.now(timezone.utc)
    assert login(client, "nurse1", "wrong-password").status_code == 401
    assert login(client, "NURSE1", PASSWORD).status_code == 302
    rows = events(database_url)
    assert [(r[0], r[1], r[2], r[3]) for r in rows] == [
        ("nurse1", "127.0.0.1", False, staff["nurse"]), ("NURSE1", "127.0.0.1", True, staff["nurse"])]
    assert all(before - timedelta(seconds=5) <= r[4] <= datetime.now(timezone.utc) for r in rows)
    with admin_connection(database_url) as conn:
        last_login = conn.execute("SELECT last_login_at FROM staff_user WHERE id = %s",
                                  [staff["nurse"]]).fetchone()[0]
    assert last_login is not None


def test_unknown_user_and_wrong_password_get_the_same_answer(client, staff):
    unknown = login(client, "nobody", "whatever-password")
    wrong = login(client, "nurse1", "whatever-password")
    assert unknown.status_code == wrong.status_code == 401
    assert "Username or password is not right." in unknown.get_data(as_text=True)
    assert "Username or password is not right." in wrong.get_data(as_text=True)


def test_passwords_are_stored_as_argon2id(staff, database_url):
    with admin_connection(database_url) as conn:
        hashes = [row[0] for row in conn.execute("SELECT password_hash FROM staff_user")]
    assert hashes and all(h.startswith("$argon2id$") and PASSWORD not in h for h in hashes)


def test_a_deactivated_user_cannot_sign_in(client, staff, database_url):
    with admin_connection(database_url) as conn:
        conn.execute("UPDATE staff_user SET is_active = false WHERE id = %s", [staff["nurse"]])
    assert login(client, "nurse1", PASSWORD).status_code == 401


def test_passwords_never_reach_the_logs(app, login_as, caplog, capfd, database_url, staff):
    caplog.set_level(logging.DEBUG)
    client = login_as("admin")
    token = csrf_from(client.get("/admin/staff").get_data(as_text=True))
    client.post("/admin/staff", data={"username": "newnurse", "full_name": "New Nurse", "role": "nurse",
                                      "password": SECRET, "csrf_token": token})
    client.post(f"/admin/staff/{staff['doctor']}/password", data={"password": SECRET + "x",
                                                                  "csrf_token": token})
    client.post("/admin/staff", data={"username": "x", "full_name": "X", "role": "nurse",
                                      "password": SECRET[:5], "csrf_token": token})
    assert login(app.test_client(), "newnurse", SECRET + "wrong").status_code == 401
    assert login(app.test_client(), "newnurse", SECRET).status_code == 302
    assert login(app.test_client(), "doctor1", SECRET + "x").status_code == 302
    runner = app.test_cli_runner()
    runner.invoke(args=["create-user", "clinurse", "--full-name", "Cli Nurse", "--role", "nurse"],
                  input=f"{SECRET}\n{SECRET}\n")
    assert count_rows(database_url, "staff_user") == 6
    captured = capfd.readouterr()
    for text in (caplog.text, captured.out, captured.err):
        assert SECRET[:12] not in text
    assert "route=/login status=302" in caplog.text  # the request log did run


# ---- rate limiting ------------------------------------------------------------

@pytest.mark.pgbouncer  # run again through PgBouncer by make test
def test_login_is_limited_per_account(make_app, staff):
    app = make_app(LOGIN_MAX_FAILURES_PER_ACCOUNT=3, LOGIN_MAX_FAILURES_PER_IP=100)
    client = app.test_client()
    for _ in range(3):
        assert login(client, "nurse1", "wrong-password").status_code == 401
    throttled = login(client, "nurse1", PASSWORD)  # even the right password waits
    assert throttled.status_code == 429
    assert "Too many failed attempts" in throttled.get_data(as_text=True)
    assert login(client, "doctor1", PASSWORD).status_code == 302  # other accounts unaffected


def test_login_is_limited_per_address(make_app, staff):
    app = make_app(LOGIN_MAX_FAILURES_PER_ACCOUNT=100, LOGIN_MAX_FAILURES_PER_IP=4)
    client = app.test_client()
    far = {"environ_base": {"REMOTE_ADDR": "10.9.9.9"}}
    for name in ("a", "b", "c", "d"):
        assert login(client, name, "wrong-password", **far).status_code == 401
    assert login(client, "nurse1", PASSWORD, **far).status_code == 429
    near = app.test_client()
    assert login(near, "nurse1", PASSWORD, environ_base={"REMOTE_ADDR": "10.9.9.10"}).status_code == 302


def test_a_successful_login_resets_the_account_count(make_app, staff):
    app = make_app(LOGIN_MAX_FAILURES_PER_ACCOUNT=3, LOGIN_MAX_FAILURES_PER_IP=100)
    client = app.test_client()
    for _ in range(2):
        assert login(client, "nurse1", "wrong-password").status_code == 401
    assert login(client, "nurse1", PASSWORD).status_code == 302
    other = app.test_client()
    for _ in range(2):
        assert login(other, "nurse1", "wrong-password").status_code == 401
    assert login(other, "nurse1", PASSWORD).status_code == 302


@pytest.mark.pgbouncer  # run again through PgBouncer by make test
def test_two_workers_share_one_limit(make_app, staff):
    """Two app instances (as two gunicorn workers) count the same failures."""
    settings = {"LOGIN_MAX_FAILURES_PER_ACCOUNT": 4, "LOGIN_MAX_FAILURES_PER_IP": 100}
    first, second = make_app(**settings).test_client(), make_app(**settings).test_client()
    for client in (first, second, first, second):
        assert login(client, "reception1", "wrong-password").status_code == 401
    assert login(first, "reception1", PASSWORD).status_code == 429
    assert login(second, "reception1", PASSWORD).status_code == 429


def test_concurrent_attempts_on_two_workers_never_exceed_the_limit(make_app, staff, database_url):
    """Real threads on real HTTP servers: exactly the limit gets a password check, the rest wait."""
    settings = {"LOGIN_MAX_FAILURES_PER_ACCOUNT": 5, "LOGIN_MAX_FAILURES_PER_IP": 100}
    apps = [make_app(**settings), make_app(**settings)]
    statuses: list[int] = []
    with running(apps[0]) as url_a, running(apps[1]) as url_b:
        sessions = []
        for url in (url_a, url_b) * 6:
            session = HttpSession()
            token = csrf_from(session.request(f"{url}/login")[1])
            sessions.append((session, url, token))
        barrier = threading.Barrier(len(sessions))

        def attempt(session, url, token):
            barrier.wait()
            status, _, _ = session.request(f"{url}/login", data={
                "username": "doctor1", "password": "nope-nope", "csrf_token": token})
            statuses.append(status)

        threads = [threading.Thread(target=attempt, args=item) for item in sessions]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    assert sorted(statuses) == [401] * 5 + [429] * 7
    assert count_rows(database_url, "login_event") == 12


# ---- CSRF -------------------------------------------------------------------------

def test_login_without_or_with_a_wrong_csrf_token_is_refused_clearly(client, staff, database_url):
    missing = client.post("/login", data={"username": "nurse1", "password": PASSWORD})
    client.get("/login")
    wrong = client.post("/login", data={"username": "nurse1", "password": PASSWORD, "csrf_token": "forged"})
    for response in (missing, wrong):
        assert response.status_code == 400
        body = response.get_data(as_text=True)
        assert "Form expired" in body and 'data-status="400"' in body and "<main" in body
    assert count_rows(database_url, "login_event") == 0
    assert client.get("/admin/staff").status_code == 302  # not signed in


def test_htmx_request_with_a_wrong_csrf_token_gets_the_alert_fragment(login_as, database_url):
    client = login_as("admin")
    before = count_rows(database_url, "staff_user")
    response = client.post("/admin/staff", headers={"HX-Request": "true", "X-CSRFToken": "forged"},
                           data={"username": "sneaky", "full_name": "Sneaky", "role": "admin",
                                 "password": "long-enough-password"})
    assert response.status_code == 400
    assert response.headers["HX-Retarget"] == "#flash"
    body = response.get_data(as_text=True)
    assert body.startswith('<p class="alert alert-error" role="alert"') and "Form expired" in body
    assert count_rows(database_url, "staff_user") == before


def test_every_state_changing_route_requires_a_csrf_token(app, staff):
    """Each state-changing route, requested by a role allowed to use it, refuses a missing or forged token."""
    from portal.auth.access import PUBLIC, allowed_roles
    from tests.helpers import ROLES, dummy_url
    clients = {}
    for role in ROLES:
        clients[role] = app.test_client()
        assert login(clients[role], f"{role}1", PASSWORD).status_code == 302
    from portal.extensions import csrf
    # M-Pesa's server posts its confirmations with no session: a secret in the URL authenticates it
    # (tests/payments test that callback on its own).
    exempt = {f"{view.__module__}.{view.__name__}" for view in app.view_functions.values()} & csrf._exempt_views
    changing = [rule for rule in app.url_map.iter_rules() if rule.methods & {"POST", "PUT", "PATCH", "DELETE"}
                and "{0.__module__}.{0.__name__}".format(app.view_functions[rule.endpoint]) not in exempt]
    assert len(changing) >= 4 and len(exempt) == 1
    for rule in changing:
        with app.app_context():
            allowed = allowed_roles(rule.endpoint)
        role = "admin" if allowed is PUBLIC else sorted(allowed)[0]
        url = dummy_url(app, rule)
        for method in sorted(rule.methods & {"POST", "PUT", "PATCH", "DELETE"}):
            for headers in ({}, {"HX-Request": "true"}, {"X-CSRFToken": "forged"}):
                response = clients[role].open(url, method=method, headers=headers)
                assert response.status_code == 400 and b"Form expired" in response.data, (url, role, headers)


# ---- session cookie, logout, deactivation, reset ------------------------------------

def session_cookie(response, name="kliniki_session") -> str:
    cookies = [c for c in response.headers.getlist("Set-Cookie") if c.startswith(f"{name}=")]
    assert cookies, "no session cookie set"
    return cookies[-1]


def test_session_cookie_is_httponly_lax_and_lasts_one_shift(client, staff):
    cookie = session_cookie(login(client, "nurse1", PASSWORD))
    attributes = {part.strip().split("=")[0].lower(): part.strip() for part in cookie.split(";")}
    assert "httponly" in attributes and attributes["samesite"] == "SameSite=Lax"
    assert "secure" not in attributes
    expires = parsedate_to_datetime(attributes["expires"].split("=", 1)[1])
    assert abs((expires - datetime.now(timezone.utc)) - timedelta(hours=12)) < timedelta(minutes=1)


def test_the_session_cookie_is_set_at_sign_in_not_on_every_response(login_as):
    client = login_as("nurse")
    client.get("/schedule/list")  # the first page adds the session's CSRF token
    for url in ("/schedule/list", "/static/app.css", "/healthz", "/schedule/list"):
        response = client.get(url)
        assert response.status_code == 200, url
        assert not response.headers.getlist("Set-Cookie"), url


def test_session_cookie_is_secure_when_configured_for_tls(make_app, staff):
    client = make_app(SESSION_COOKIE_SECURE=True, WTF_CSRF_SSL_STRICT=False).test_client()
    response = login(client, "nurse1", PASSWORD, base_url="https://localhost")
    assert "; Secure" in session_cookie(response)
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


def test_session_ends_one_shift_after_sign_in_however_active(login_as):
    client = login_as("nurse")
    with client.session_transaction() as session:
        session[SIGNED_IN_AT] = time.time() - 11 * 3600
    assert client.get("/schedule/").status_code != 302
    with client.session_transaction() as session:
        session[SIGNED_IN_AT] = time.time() - 12 * 3600 - 60
    response = client.get("/schedule/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    with client.session_transaction() as session:
        assert "_user_id" not in session


def test_logout_clears_the_session(login_as):
    client = login_as("reception")
    page = client.get("/schedule/")
    token = csrf_from(page.get_data(as_text=True))
    assert client.get("/logout").status_code == 405  # only POST signs out
    response = client.post("/logout", data={"csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    with client.session_transaction() as session:
        assert "_user_id" not in session and SIGNED_IN_AT not in session
    assert client.get("/schedule/").status_code == 302


def test_a_deactivated_user_is_logged_out_on_the_next_request(app, login_as, staff):
    admin = login_as("admin")
    nurse = app.test_client()
    assert login(nurse, "nurse1", PASSWORD).status_code == 302
    assert nurse.get("/schedule/").status_code != 302
    token = csrf_from(admin.get("/admin/staff").get_data(as_text=True))
    done = admin.post(f"/admin/staff/{staff['nurse']}/active", data={"active": "0", "csrf_token": token})
    assert done.status_code == 303
    response = nurse.get("/schedule/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


def test_password_reset_ends_the_users_other_sessions(app, login_as, staff):
    admin = login_as("admin")
    desk, ward = app.test_client(), app.test_client()
    for client in (desk, ward):
        assert login(client, "nurse1", PASSWORD).status_code == 302
    token = csrf_from(admin.get("/admin/staff").get_data(as_text=True))
    new_password = "a-brand-new-password"
    done = admin.post(f"/admin/staff/{staff['nurse']}/password",
                      data={"password": new_password, "csrf_token": token})
    assert done.status_code == 303
    for client in (desk, ward):
        assert client.get("/schedule/").status_code == 302
    fresh = app.test_client()
    assert login(fresh, "nurse1", PASSWORD).status_code == 401
    assert login(fresh, "nurse1", new_password).status_code == 302


def test_an_admin_resetting_their_own_password_stays_signed_in_elsewhere_ends(app, login_as, staff):
    admin = login_as("admin")
    second = app.test_client()
    assert login(second, "admin1", PASSWORD).status_code == 302
    token = csrf_from(admin.get("/admin/staff").get_data(as_text=True))
    admin.post(f"/admin/staff/{staff['admin']}/password",
               data={"password": "admins-new-password", "csrf_token": token})
    assert admin.get("/admin/staff").status_code == 200
    assert second.get("/admin/staff").status_code == 302


@pytest.mark.parametrize("target, expected", [
    ("/admin/staff", "/admin/staff"), ("//evil.example/", "/dashboard/"),
    ("https://evil.example/", "/dashboard/"), ("/\\evil.example", "/dashboard/"),
    ("javascript:alert(1)", "/dashboard/"),
])
def test_login_only_follows_local_next_targets(client, staff, target, expected):
    token = csrf_from(client.get("/login").get_data(as_text=True))
    response = client.post("/login", query_string={"next": target},
                           data={"username": "admin1", "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"] == expected


# ---- server-side sessions ----------------------------------------------------------

def cookie_of(client, app) -> str:
    return client.get_cookie(app.config["SESSION_COOKIE_NAME"]).value


def with_cookie(app, value: str):
    """A new browser holding a copied session cookie."""
    other = app.test_client()
    other.set_cookie(app.config["SESSION_COOKIE_NAME"], value)
    return other


def signed_in(client) -> bool:
    return client.get("/schedule/list").status_code == 200


def test_a_cookie_copied_before_logout_no_longer_works(app, login_as):
    client = login_as("reception")
    copied = cookie_of(client, app)
    assert signed_in(with_cookie(app, copied))
    token = csrf_from(client.get("/schedule/").get_data(as_text=True))
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    stolen = with_cookie(app, copied)
    response = stolen.get("/schedule/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


@pytest.mark.pgbouncer  # run again through PgBouncer by make test
def test_logout_on_one_worker_ends_the_session_on_the_other(make_app, staff):
    first, second = make_app(), make_app()  # two gunicorn workers: same secret, same database
    desk = first.test_client()
    assert login(desk, "nurse1").status_code == 302
    copied = cookie_of(desk, first)
    other_worker = with_cookie(second, copied)
    assert signed_in(other_worker)
    desk.post("/logout", data={"csrf_token": csrf_from(desk.get("/schedule/list").get_data(as_text=True))})
    assert not signed_in(other_worker)


@pytest.mark.pgbouncer  # run again through PgBouncer by make test
def test_the_session_id_changes_at_every_sign_in(app, staff, database_url):
    desk, ward = app.test_client(), app.test_client()
    for client in (desk, ward):
        assert login(client, "nurse1").status_code == 302
    tokens = []
    for client in (desk, ward):
        with client.session_transaction() as session:
            tokens.append(session["_user_id"])
    assert tokens[0] != tokens[1] and all(t.startswith(f"{staff['nurse']}:") for t in tokens)
    with admin_connection(database_url) as conn:
        stored = [row[0] for row in conn.execute("SELECT token_hash FROM staff_session")]
    assert len(stored) == 2 and all(t.split(":")[1].encode() not in bytes(h) for t in tokens for h in stored)
    desk.post("/logout", data={"csrf_token": csrf_from(desk.get("/schedule/list").get_data(as_text=True))})
    assert not signed_in(desk) and signed_in(ward)  # one sign-in ended, the other goes on


def test_sign_out_everywhere_ends_every_session_of_the_user_only(app, staff):
    nurse_browsers = [app.test_client() for _ in range(3)]
    for client in nurse_browsers:
        assert login(client, "nurse1").status_code == 302
    doctor = app.test_client()
    assert login(doctor, "doctor1").status_code == 302
    page = nurse_browsers[0].get("/account").get_data(as_text=True)
    assert page.count("<tr>") == 3 + 1 and "(this browser)" in page  # three sessions and the header row
    assert "Sign out everywhere" in page
    response = nurse_browsers[0].post("/account/sign-out-everywhere", data={"csrf_token": csrf_from(page)})
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert not any(signed_in(client) for client in nurse_browsers)
    assert signed_in(doctor)
    assert login(app.test_client(), "nurse1").status_code == 302  # signing in again works


def test_admin_sees_and_ends_a_staff_members_sessions(app, login_as, staff):
    admin = login_as("admin")
    nurse = app.test_client()
    assert login(nurse, "nurse1").status_code == 302
    page = admin.get("/admin/staff").get_data(as_text=True)
    assert "End sessions of nurse1" in page
    done = admin.post(f"/admin/staff/{staff['nurse']}/sessions/end", data={"csrf_token": csrf_from(page)})
    assert done.status_code == 303
    assert not signed_in(nurse) and admin.get("/admin/staff").status_code == 200
    missing = admin.post("/admin/staff/987654/sessions/end", data={"csrf_token": csrf_from(page)})
    assert missing.status_code == 404 and "No such staff member." in missing.get_data(as_text=True)


def test_a_session_ends_server_side_at_its_expiry_whatever_the_cookie_says(app, login_as, database_url):
    client = login_as("nurse")
    assert signed_in(client)
    with admin_connection(database_url) as conn:
        conn.execute("UPDATE staff_session SET expires_at = now() - interval '1 second'")
    assert not signed_in(client)


def test_last_seen_is_written_only_now_and_then(app, login_as, database_url):
    client = login_as("nurse")

    def last_seen():
        with admin_connection(database_url) as conn:
            return conn.execute("SELECT last_seen_at FROM staff_session").fetchone()[0]
    first = last_seen()
    for _ in range(3):
        assert signed_in(client)
    assert last_seen() == first  # no write per request
    with admin_connection(database_url) as conn:
        conn.execute("UPDATE staff_session SET last_seen_at = now() - interval '10 minutes'")
    old = last_seen()
    assert signed_in(client)
    assert last_seen() > old + timedelta(minutes=9)


def test_the_user_loader_is_one_indexed_query(app, login_as, database_url):
    from portal.auth.services import SIGNED_IN_SQL
    login_as("nurse")
    with admin_connection(database_url) as conn:
        conn.execute("SET enable_seqscan = off")  # a tiny table: ask which index the planner has
        plan = "\n".join(row[0] for row in conn.execute(
            "EXPLAIN " + SIGNED_IN_SQL.replace(":token", "'\\x00'::bytea").replace(":id", "1")))
    # Either of the session's indexes (its token, or its user's open sessions) is one lookup.
    assert "Seq Scan" not in plan and "pk_staff_user" in plan, plan
    assert "uq_staff_session_token_hash" in plan or "ix_staff_session_user_open" in plan, plan


# ---- throttling that does not lock the owner out -----------------------------------

OWNER_DESK = {"environ_base": {"REMOTE_ADDR": "10.1.1.5"}}
ELSEWHERE = {"environ_base": {"REMOTE_ADDR": "10.6.6.6"}}


def test_the_owner_at_a_known_address_signs_in_while_a_guesser_elsewhere_is_held_back(make_app, staff):
    app = make_app(LOGIN_MAX_FAILURES_PER_ACCOUNT=5, LOGIN_MAX_FAILURES_PER_IP=100)
    assert login(app.test_client(), "nurse1", **OWNER_DESK).status_code == 302  # her usual desk
    guesser = app.test_client()
    for _ in range(5):
        assert login(guesser, "nurse1", "guess-guess-guess", **ELSEWHERE).status_code == 401
    held = login(guesser, "nurse1", PASSWORD, **ELSEWHERE)
    assert held.status_code == 429 and "Too many failed attempts" in held.get_data(as_text=True)
    assert login(app.test_client(), "nurse1", **OWNER_DESK).status_code == 302


def test_the_wait_grows_with_each_failure_and_hammering_does_not_extend_it(make_app, staff, database_url):
    app = make_app(LOGIN_MAX_FAILURES_PER_ACCOUNT=3, LOGIN_MAX_FAILURES_PER_IP=100, LOGIN_LOCK_BASE_S=1)
    guesser = app.test_client()
    for _ in range(3):
        assert login(guesser, "doctor1", "guess-guess-guess", **ELSEWHERE).status_code == 401
    for _ in range(5):  # while it must wait, tries are refused unchecked and do not count
        assert login(guesser, "doctor1", PASSWORD, **ELSEWHERE).status_code == 429
    time.sleep(1.1)
    assert login(guesser, "doctor1", "guess-guess-guess", **ELSEWHERE).status_code == 401  # one more check
    assert login(guesser, "doctor1", PASSWORD, **ELSEWHERE).status_code == 429
    time.sleep(1.1)  # the fourth failure doubled the wait to 2 s
    assert login(guesser, "doctor1", PASSWORD, **ELSEWHERE).status_code == 429
    time.sleep(1.0)
    assert login(guesser, "doctor1", PASSWORD, **ELSEWHERE).status_code == 302
    with admin_connection(database_url) as conn:
        rows = conn.execute("SELECT success, throttled FROM login_event ORDER BY id").fetchall()
    assert rows.count((False, True)) == 7 and rows[-1] == (True, False)


def test_admin_sees_and_clears_a_lock(make_app, staff):
    app = make_app(LOGIN_MAX_FAILURES_PER_ACCOUNT=3, LOGIN_MAX_FAILURES_PER_IP=100)
    guesser = app.test_client()
    for _ in range(3):
        login(guesser, "nurse1", "guess-guess-guess", **ELSEWHERE)
    assert login(app.test_client(), "nurse1", **ELSEWHERE).status_code == 429
    admin = app.test_client()
    assert login(admin, "admin1").status_code == 302
    page = admin.get("/admin/staff").get_data(as_text=True)
    assert page.count("Locked until") == 1 and "3 failed sign-ins" in page and "Clear lock" in page
    done = admin.post(f"/admin/staff/{staff['nurse']}/unlock", data={"csrf_token": csrf_from(page)})
    assert done.status_code == 303
    assert "Locked until" not in admin.get("/admin/staff").get_data(as_text=True)
    assert login(app.test_client(), "nurse1", **ELSEWHERE).status_code == 302


# ---- sign-in time does not tell whether a username exists ---------------------------

def sign_in_seconds(app, username: str, rounds: int = 5) -> float:
    """Median time of a wrong-password sign-in for username."""
    client = app.test_client()
    times = []
    for _ in range(rounds):
        token = csrf_from(client.get("/login").get_data(as_text=True))
        started = time.perf_counter()
        response = client.post("/login", data={"username": username, "password": "not-the-password",
                                               "csrf_token": token})
        times.append(time.perf_counter() - started)
        assert response.status_code == 401
    return sorted(times)[len(times) // 2]


def test_a_known_and_an_unknown_username_take_as_long(make_app, staff):
    app = make_app(LOGIN_MAX_FAILURES_PER_ACCOUNT=1000, LOGIN_MAX_FAILURES_PER_IP=1000)
    known, unknown = sign_in_seconds(app, "nurse1"), sign_in_seconds(app, "no.such.user")
    assert 0.6 < known / unknown < 1.6, (known, unknown)


def test_an_old_hash_is_brought_to_the_current_cost_at_sign_in(make_app, staff, database_url):
    """A hash made with other argon2 parameters answers faster (or slower) than the dummy that an
    unknown username is checked against; the first sign-in rehashes it, and the gap closes."""
    from argon2 import PasswordHasher

    from portal.auth.passwords import _DUMMY_HASH
    cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash(PASSWORD)
    with admin_connection(database_url) as conn:
        conn.execute("INSERT INTO staff_user (username, full_name, role, password_hash) "
                     "VALUES ('old.hash', 'Old Hash', 'nurse', %s)", [cheap])
    app = make_app(LOGIN_MAX_FAILURES_PER_ACCOUNT=1000, LOGIN_MAX_FAILURES_PER_IP=1000)
    before = sign_in_seconds(app, "old.hash") / sign_in_seconds(app, "no.such.user")
    assert before < 0.6, before  # the gap an outsider could measure
    assert login(app.test_client(), "old.hash").status_code == 302
    with admin_connection(database_url) as conn:
        stored = conn.execute("SELECT password_hash FROM staff_user WHERE username = 'old.hash'").fetchone()[0]
    assert stored.rsplit("$", 2)[0] == _DUMMY_HASH.rsplit("$", 2)[0]  # same algorithm and parameters
    after = sign_in_seconds(app, "old.hash") / sign_in_seconds(app, "no.such.user")
    assert 0.6 < after < 1.6, after
    assert login(app.test_client(), "old.hash").status_code == 302


# ---- weak passwords ------------------------------------------------------------------

@pytest.mark.parametrize("password, message", [
    ("1234567890", "at least 12"),
    ("password12", "at least 12"),
    ("123456789012", "too easy to guess"),
    ("qwertyuiop12", "too easy to guess"),
    ("abcabcabcabc", "too easy to guess"),
    ("password1234", "common passwords"),
    ("P@ssw0rd2024!", "common passwords"),
    ("iloveyou2024", "common passwords"),
    ("welcome-to-kliniki", "common passwords"),
    ("kliniki-demo", "password of the demo accounts"),
    ("esther.wanjiru", "username or the name of the person"),
    ("EstherNyambura2024", "username or the name of the person"),
    ("nyambura-esther!", "username or the name of the person"),
])
def test_weak_passwords_are_refused_with_a_clear_message(login_as, staff, database_url, password, message):
    client = login_as("admin")
    token = csrf_from(client.get("/admin/staff").get_data(as_text=True))
    before = count_rows(database_url, "staff_user")
    response = client.post("/admin/staff", data={
        "username": "esther.wanjiru", "full_name": "Esther Nyambura", "role": "nurse",
        "password": password, "csrf_token": token})
    assert response.status_code == 422 and message in response.get_data(as_text=True)
    # The same rules on a reset; the nurse's own name stands in for Esther's.
    for name, nurse_name in (("esther.wanjiru", "nurse1-nurse1"), ("Esther", "Test"), ("esther", "test"),
                             ("Nyambura", "Nurse"), ("nyambura", "nurse")):
        password = password.replace(name, nurse_name)
    reset = client.post(f"/admin/staff/{staff['nurse']}/password",
                        data={"password": password, "csrf_token": token})
    assert reset.status_code == 422 and 'id="staff-alert"' in reset.get_data(as_text=True)
    assert count_rows(database_url, "staff_user") == before
    assert login(client.application.test_client(), "nurse1").status_code == 302  # password unchanged


def test_a_strong_password_is_accepted_and_the_cli_applies_the_same_rules(app, login_as, database_url):
    client = login_as("admin")
    token = csrf_from(client.get("/admin/staff").get_data(as_text=True))
    done = client.post("/admin/staff", data={"username": "esther.wanjiru", "full_name": "Esther Nyambura",
                                             "role": "nurse", "password": "amber-kettle-orbit-9",
                                             "csrf_token": token})
    assert done.status_code == 303
    runner = app.test_cli_runner()
    refused = runner.invoke(args=["create-user", "weak.one", "--full-name", "Weak One", "--role", "nurse"],
                            input="password1234\npassword1234\n")
    assert refused.exit_code != 0 and "common passwords" in refused.output
    assert count_rows(database_url, "staff_user") == 5
