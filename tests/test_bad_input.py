"""Bad input on the login and staff forms: a clear message, a 4xx status, nothing changed."""
from __future__ import annotations

import pytest

from tests.helpers import PASSWORD, admin_connection, count_rows, csrf_from

HUGE = "A" * 10_240
NASTY = [
    "",
    "   ",
    HUGE,
    "Wanjirũ-名前-😀",
    "' OR '1'='1' --",
    "admin1'; DROP TABLE staff_user; --",
    '<script>alert("x")</script>',
    '"><img src=x onerror=alert(1)>',
    "nul\x00byte",
    "line\nbreak",
]


def snapshot(database_url):
    with admin_connection(database_url) as conn:
        return conn.execute("SELECT id, username, full_name, role, password_hash, is_active, auth_version "
                            "FROM staff_user ORDER BY id").fetchall()


def assert_escaped(body: str):
    assert "<script>alert" not in body and "<img src=x" not in body


@pytest.mark.parametrize("value", NASTY, ids=lambda v: repr(v[:20]))
def test_login_with_bad_input(client, staff, database_url, value):
    before = snapshot(database_url)
    for username, password in ((value, value), ("nurse1", value), (value, PASSWORD)):
        token = csrf_from(client.get("/login").get_data(as_text=True))
        response = client.post("/login", data={"username": username, "password": password,
                                               "csrf_token": token})
        body = response.get_data(as_text=True)
        assert 400 <= response.status_code < 500, (username[:20], response.status_code)
        assert 'id="login-error"' in body
        assert ("Enter your username and password." in body) or ("Username or password is not right." in body)
        assert_escaped(body)
    assert snapshot(database_url) == before
    assert client.get("/admin/staff").status_code == 302  # still signed out


def test_login_with_a_wrong_csrf_token_changes_nothing(client, staff, database_url):
    client.get("/login")
    response = client.post("/login", data={"username": "nurse1", "password": PASSWORD,
                                           "csrf_token": "x" * 10_240})
    assert response.status_code == 400 and b"Form expired" in response.data
    assert count_rows(database_url, "login_event") == 0


def admin_client(login_as):
    client = login_as("admin")
    token = csrf_from(client.get("/admin/staff").get_data(as_text=True))
    return client, token


GOOD = {"username": "new.nurse", "full_name": "Esther Nyambura", "role": "nurse",
        "password": "a-good-long-password"}


def valid_password(value: str) -> bool:
    return 12 <= len(value) <= 128 and bool(value.strip())


def bad_for(field: str, value: str) -> bool:
    """Whether `value` must be refused in `field` (names may hold unicode and metacharacters)."""
    if field == "full_name":
        return not value.strip() or len(value) > 120 or any(c in value for c in "\x00\n")
    if field == "password":
        return not valid_password(value)
    return True


STAFF_CASES = [(field, value) for field in ("username", "full_name", "role", "password")
               for value in NASTY if bad_for(field, value)]


@pytest.mark.parametrize("field, value", STAFF_CASES, ids=[f"{f}-{v[:20]!r}" for f, v in STAFF_CASES])
def test_add_staff_with_bad_input(login_as, database_url, field, value):
    client, token = admin_client(login_as)
    before = snapshot(database_url)
    for htmx in (False, True):
        headers = {"HX-Request": "true", "X-CSRFToken": token} if htmx else {}
        response = client.post("/admin/staff", headers=headers,
                               data={**GOOD, field: value, "csrf_token": token})
        body = response.get_data(as_text=True)
        assert response.status_code == 422, (field, value[:20], response.status_code)
        assert 'class="field-error"' in body
        assert_escaped(body)
        if htmx:
            assert body.lstrip().startswith('<form id="staff-form"')  # just the form, swapped in place
    assert snapshot(database_url) == before


@pytest.mark.parametrize("name", ["Wanjirũ Ng'ang'a 名前", '<script>alert("x")</script>',
                                  "O'Brien; DROP TABLE staff_user; --"])
def test_names_with_unicode_and_metacharacters_are_stored_exactly_and_shown_escaped(login_as, database_url,
                                                                                    name):
    client, token = admin_client(login_as)
    response = client.post("/admin/staff", data={**GOOD, "full_name": name, "csrf_token": token})
    assert response.status_code == 303
    with admin_connection(database_url) as conn:
        stored = conn.execute("SELECT full_name FROM staff_user WHERE username = 'new.nurse'").fetchone()[0]
    assert stored == name
    assert_escaped(client.get("/admin/staff").get_data(as_text=True))


def test_add_staff_twice_is_refused_clearly(login_as, database_url):
    client, token = admin_client(login_as)
    assert client.post("/admin/staff", data={**GOOD, "csrf_token": token}).status_code == 303
    before = snapshot(database_url)
    again = client.post("/admin/staff", data={**GOOD, "username": "NEW.NURSE", "csrf_token": token})
    assert again.status_code == 422 and "That username is taken." in again.get_data(as_text=True)
    assert snapshot(database_url) == before


@pytest.mark.parametrize("value", [v for v in NASTY if not valid_password(v)], ids=lambda v: repr(v[:20]))
def test_reset_password_with_bad_input(login_as, staff, database_url, value):
    client, token = admin_client(login_as)
    before = snapshot(database_url)
    response = client.post(f"/admin/staff/{staff['nurse']}/password",
                           data={"password": value, "csrf_token": token})
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert 'id="staff-alert"' in body and ("at least 12" in body or "at most 128" in body)
    assert snapshot(database_url) == before


@pytest.mark.parametrize("value", ["", "2", "yes", HUGE, "' OR 1=1 --", "\x00"])
def test_set_active_with_bad_input(login_as, staff, database_url, value):
    client, token = admin_client(login_as)
    before = snapshot(database_url)
    response = client.post(f"/admin/staff/{staff['nurse']}/active", data={"active": value, "csrf_token": token})
    assert response.status_code == 422 and "Choose to activate or to deactivate." in response.get_data(as_text=True)
    assert snapshot(database_url) == before


def test_admin_cannot_deactivate_themselves_nor_unknown_staff(login_as, staff, database_url):
    client, token = admin_client(login_as)
    before = snapshot(database_url)
    own = client.post(f"/admin/staff/{staff['admin']}/active", data={"active": "0", "csrf_token": token})
    assert own.status_code == 422 and "cannot deactivate your own account" in own.get_data(as_text=True)
    missing = client.post("/admin/staff/987654/active", data={"active": "0", "csrf_token": token})
    assert missing.status_code == 422 and "No such staff member." in missing.get_data(as_text=True)
    too_big = client.post(f"/admin/staff/{'9' * 30}/active", data={"active": "0", "csrf_token": token})
    assert too_big.status_code in (404, 422)
    assert snapshot(database_url) == before


def test_staff_forms_with_a_wrong_csrf_token_change_nothing(login_as, staff, database_url):
    client, _ = admin_client(login_as)
    before = snapshot(database_url)
    for url, data in (("/admin/staff", GOOD),
                      (f"/admin/staff/{staff['nurse']}/active", {"active": "0"}),
                      (f"/admin/staff/{staff['nurse']}/password", {"password": "another-password"})):
        for token in ("", "forged", HUGE):
            response = client.post(url, data={**data, "csrf_token": token})
            assert response.status_code == 400 and b"Form expired" in response.data
    assert snapshot(database_url) == before
