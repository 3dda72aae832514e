"""`flask create-user` and `flask seed-demo`, run with click's runner against the test database."""
from __future__ import annotations

from portal.seed import DEMO_PASSWORD, DEMO_STAFF
from tests.helpers import admin_connection, count_rows, login

NEW_PASSWORD = "a-long-enough-password"


def staff_rows(database_url):
    with admin_connection(database_url) as conn:
        return conn.execute("SELECT username, full_name, role, password_hash FROM staff_user ORDER BY id").fetchall()


def create_user(app, *args, input=None):
    return app.test_cli_runner().invoke(args=["create-user", *args], input=input)


def test_create_user_asks_for_the_password_twice(app, database_url):
    result = create_user(app, "wanjiru", "--full-name", "Wanjiru Kamau", "--role", "reception",
                         input=f"{NEW_PASSWORD}\n{NEW_PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert "Password:" in result.output and "Repeat for confirmation:" in result.output
    assert NEW_PASSWORD not in result.output
    assert "Created wanjiru (reception)." in result.output
    [(username, full_name, role, password_hash)] = staff_rows(database_url)
    assert (username, full_name, role) == ("wanjiru", "Wanjiru Kamau", "reception")
    assert password_hash.startswith("$argon2id$")
    assert login(app.test_client(), "wanjiru", NEW_PASSWORD).status_code == 302


def test_create_user_prompts_for_missing_options(app, database_url):
    result = create_user(app, "otieno", input=f"Peter Otieno\nnurse\n{NEW_PASSWORD}\n{NEW_PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert [row[:3] for row in staff_rows(database_url)] == [("otieno", "Peter Otieno", "nurse")]


def test_create_user_refuses_bad_input_and_changes_nothing(app, database_url):
    short = create_user(app, "amina", "--full-name", "Amina", "--role", "admin", input="short\nshort\n")
    assert short.exit_code == 1 and "password: Use at least 12 characters." in short.output
    bad_name = create_user(app, "amina<script>", "--full-name", "Amina", "--role", "admin",
                           input=f"{NEW_PASSWORD}\n{NEW_PASSWORD}\n")
    assert bad_name.exit_code == 1 and "username: Use letters, digits" in bad_name.output
    bad_role = create_user(app, "amina", "--full-name", "Amina", "--role", "surgeon",
                           input=f"{NEW_PASSWORD}\n{NEW_PASSWORD}\n")
    assert bad_role.exit_code == 2 and "surgeon" in bad_role.output
    assert staff_rows(database_url) == []
    assert create_user(app, "amina", "--full-name", "Amina", "--role", "admin",
                       input=f"{NEW_PASSWORD}\n{NEW_PASSWORD}\n").exit_code == 0
    again = create_user(app, "AMINA", "--full-name", "Amina Two", "--role", "admin",
                        input=f"{NEW_PASSWORD}\n{NEW_PASSWORD}\n")
    assert again.exit_code == 1 and "That username is taken." in again.output
    assert len(staff_rows(database_url)) == 1


def test_seed_demo_loads_every_role_and_runs_twice_safely(app, database_url):
    first = app.test_cli_runner().invoke(args=["seed-demo"])
    assert first.exit_code == 0, first.output
    assert f"password: {DEMO_PASSWORD}" in first.output
    roles = {role for _, _, role in DEMO_STAFF}
    assert roles == {"admin", "reception", "doctor", "nurse"}
    rows = staff_rows(database_url)
    assert sorted(row[0] for row in rows) == sorted(u for u, _, _ in DEMO_STAFF)
    assert count_rows(database_url, "doctor") >= 3 and count_rows(database_url, "patient") >= 5
    counts = {table: count_rows(database_url, table) for table in ("staff_user", "doctor", "patient")}
    second = app.test_cli_runner().invoke(args=["seed-demo"])
    assert second.exit_code == 0, second.output
    assert {table: count_rows(database_url, table) for table in counts} == counts
    for username, _, _ in DEMO_STAFF:
        assert login(app.test_client(), username, DEMO_PASSWORD).status_code == 302


def test_seed_demo_refuses_a_database_with_real_staff_unless_forced(app, staff, database_url):
    before = staff_rows(database_url)
    refused = app.test_cli_runner().invoke(args=["seed-demo"])
    assert refused.exit_code == 1 and "--force" in refused.output
    assert staff_rows(database_url) == before and count_rows(database_url, "patient") == 0
    forced = app.test_cli_runner().invoke(args=["seed-demo", "--force"])
    assert forced.exit_code == 0, forced.output
    assert len(staff_rows(database_url)) == len(before) + len(DEMO_STAFF)


def test_stopping_make_run_stops_only_the_embedded_database_it_started(tmp_path):
    """Ctrl+C on `make run`: its own embedded PostgreSQL stops; one that was already up is left, and said so."""
    from portal.embedded import server_running
    from portal.serve import stop_embedded
    from tests.helpers import INSTANCE

    running = server_running(INSTANCE)  # the suite's own server (unless TEST_DATABASE_URL), up before
    said = stop_embedded(INSTANCE, started_here=False)
    assert server_running(INSTANCE) == running and "keeps running" in said and "make db-stop" in said
    assert "DATABASE_URL" in stop_embedded(INSTANCE, started_here=False, external=True)
    assert "it started (instance/pgdata) too" in stop_embedded(str(tmp_path), started_here=True)
