"""The dashboard page and its CSV exports: who may see them, what they show, bad ranges, safe cells."""
from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import pytest
from sqlalchemy import text

from portal.dashboard.reports import BY_NAME, REPORTS, csv_cell
from portal.extensions import db
from tests.dashboard.conftest import DAY
from tests.helpers import ROLES, count_rows, login

RANGE = {"from": DAY.isoformat(), "to": DAY.isoformat()}
ROUTES = ["/dashboard/"] + [f"/dashboard/{report.name}.csv" for report in REPORTS]


@pytest.mark.parametrize("path", ROUTES)
@pytest.mark.parametrize("role", ROLES)
def test_only_admin_may_open_the_dashboard_and_its_exports(app, client, staff, role, path):
    assert login(client, f"{role}1").status_code == 302
    response = client.get(path)
    assert response.status_code == (200 if role == "admin" else 403), (role, path)


@pytest.mark.parametrize("path", ROUTES)
def test_signed_out_users_are_sent_to_sign_in(client, path):
    response = client.get(path)
    assert response.status_code == 302 and response.headers["Location"].startswith("/login?next=")


def test_admin_lands_on_the_dashboard_and_finds_it_in_the_navigation(client, staff):
    response = login(client, "admin1")
    assert response.headers["Location"] == "/dashboard/"
    page = client.get("/dashboard/").get_data(as_text=True)
    assert 'href="/dashboard/" aria-current="page">Dashboard</a>' in page
    for role in ("reception", "doctor", "nurse"):
        other = client.application.test_client()
        login(other, f"{role}1")
        assert 'href="/dashboard/"' not in other.get("/patients/").get_data(as_text=True), role


def _table(page: str, report: str) -> str:
    section = re.search(rf'<section class="report" id="report-{report}".*?</section>', page, re.S)
    assert section, report
    return section.group(0)


@pytest.mark.pgbouncer  # run again through PgBouncer by make test
def test_the_page_shows_the_figures_as_charts_and_tables(login_as, clinic):
    page = login_as("admin").get("/dashboard/", query_string=RANGE).get_data(as_text=True)
    status = _table(page, "today-by-status")
    assert "<svg" in status and "<td>no show</td><td class=\"num\">1</td>" in status
    assert "<th scope=\"row\">All</th><td class=\"num\">9</td>" in status
    doctors = _table(page, "today-by-doctor")
    assert re.search(r"<td>Dr\. Test Two</td><td class=\"num\">5</td><td class=\"num\">2</td>", doctors)
    waits = _table(page, "waiting-times")
    assert "<dt>Median wait</dt><dd>12.0 min</dd>" in waits and "(longest 30.0 min)" in waits
    rates = _table(page, "attendance")
    assert "<dt>Cancellation rate</dt><dd>22.2%</dd>" in rates and "<dt>No-show rate</dt><dd>20.0%</dd>" in rates
    utilisation = _table(page, "utilisation")
    assert "<dt>Clinic utilisation</dt><dd>43.8%</dd>" in utilisation
    assert "<dt>Registered in the range</dt><dd>4</dd>" in _table(page, "new-patients")
    assert " style=" not in page and "<script>" not in page  # the CSP forbids both


def test_todays_sections_ignore_the_range(login_as, clinic):
    page = login_as("admin").get("/dashboard/", query_string={"from": "2031-05-01", "to": "2031-05-31"})
    body = page.get_data(as_text=True)
    assert "<dt>Median wait</dt><dd>12.0 min</dd>" in _table(body, "waiting-times")
    assert "<th scope=\"row\">All</th><td class=\"num\">9</td>" in _table(body, "today-by-status")
    assert "No appointments in this range." in _table(body, "attendance")


def test_the_charts_draw_bars_to_scale(login_as, clinic):
    page = login_as("admin").get("/dashboard/", query_string=RANGE).get_data(as_text=True)
    utilisation = _table(page, "utilisation")
    widths = re.findall(r'<rect x="190" y="3" height="18" width="([0-9.]+)" class="bar ', utilisation)
    assert widths == ["142.5", "190.0"]  # 37.5% and 50% of a 380-wide full bar


@pytest.mark.pgbouncer  # run again through PgBouncer by make test
def test_viewing_aggregates_writes_no_audit_event(login_as, clinic, database_url):
    client = login_as("admin")
    before = count_rows(database_url, "audit_event")
    client.get("/dashboard/", query_string=RANGE)
    for report in REPORTS:
        client.get(f"/dashboard/{report.name}.csv", query_string=RANGE)
    assert count_rows(database_url, "audit_event") == before


@pytest.mark.parametrize("args, message", [
    ({"from": "2031-03-05", "to": "2031-03-04"}, "starts after it ends"),
    ({"from": "2030-01-01", "to": "2031-01-02"}, "at most 366 days"),
    ({"from": "2031-02-30"}, "is not a date"),
    ({"from": "２０３１-03-04"}, "is not a date"),
    ({"to": "2031-03-04\x00"}, ""),
    ({"from": "x" * 5000}, "is not a date"),
    ({"from": "1999-12-31"}, "is not a date"),
    ({"to": "2031-03-04T00:00+03:00"}, "is not a date"),
])
def test_a_bad_range_is_refused_with_a_reason(login_as, clinic, args, message):
    client = login_as("admin")
    page = client.get("/dashboard/", query_string=args)
    assert page.status_code == 422
    body = page.get_data(as_text=True)
    assert 'id="range-error"' in body and message in body
    assert 'id="report-attendance"' in body  # the page still works, on the default range
    export = client.get("/dashboard/attendance.csv", query_string=args)
    assert export.status_code == 422 and not export.headers["Content-Type"].startswith("text/csv")


def test_a_range_of_exactly_366_days_is_accepted(login_as, clinic):
    response = login_as("admin").get("/dashboard/", query_string={
        "from": (DAY - timedelta(days=365)).isoformat(), "to": DAY.isoformat()})
    assert response.status_code == 200
    assert "(366 days)" in response.get_data(as_text=True)


def test_an_unknown_report_is_not_found(login_as):
    assert login_as("admin").get("/dashboard/salaries.csv").status_code == 404


def _csv(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.get_data(as_text=True))))


@pytest.mark.pgbouncer  # run again through PgBouncer by make test
def test_each_export_is_a_csv_download_of_the_same_figures(login_as, clinic):
    client = login_as("admin")
    for report in REPORTS:
        response = client.get(f"/dashboard/{report.name}.csv", query_string=RANGE)
        assert response.status_code == 200
        assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
        period = DAY.isoformat() if report.today else f"{DAY.isoformat()}_{DAY.isoformat()}"
        assert response.headers["Content-Disposition"] == \
            f'attachment; filename="kliniki-{report.name}-{period}.csv"'
        assert _csv(response)[0] == list(report.columns)
    rates = _csv(client.get("/dashboard/attendance.csv", query_string=RANGE))
    assert rates[1:] == [[DAY.isoformat(), "9", "2", "1", "1", "22.2", "5", "1", "20.0"],
                         ["total", "9", "2", "1", "1", "22.2", "5", "1", "20.0"]]
    status = dict(_csv(client.get("/dashboard/today-by-status.csv"))[1:])
    assert status["no show"] == "1" and status["completed"] == "2" and status["pending doctor review"] == "0"
    utilisation = _csv(client.get("/dashboard/utilisation.csv", query_string=RANGE))
    assert utilisation[1:] == [["Dr. Test One", "8", "3", "1", "37.5"], ["Dr. Test Two", "8", "4", "0", "50.0"],
                               ["all doctors", "16", "7", "1", "43.8"]]
    assert _csv(client.get("/dashboard/new-patients.csv", query_string=RANGE))[1:] == \
        [[DAY.isoformat(), "4"], ["total", "4"]]


def test_cells_a_spreadsheet_would_run_as_formulas_are_quoted(app, login_as, clinic):
    names = ["=HYPERLINK(\"http://evil.example\",\"x\")", "+1+1", "-2-2", "@SUM(A1)"]
    with app.app_context():
        for doctor_id, name in zip(clinic.doctors, names):
            db.session.execute(text("UPDATE doctor SET name = :n WHERE id = :id"), {"n": name, "id": doctor_id})
        db.session.commit()
    rows = _csv(login_as("admin").get("/dashboard/today-by-doctor.csv"))
    assert sorted(row[0] for row in rows[1:]) == sorted("'" + name for name in names[:2])
    assert rows[1][1:] in (["4", "0", "1", "1", "1", "1"], ["5", "2", "1", "1", "0", "1"])


@pytest.mark.parametrize("value, cell", [
    ("=1+2", "'=1+2"), ("+7", "'+7"), ("-3", "'-3"), ("@A1", "'@A1"), ("\tx", "'\tx"), ("\r=1", "'\r=1"),
    ("Dr. A", "Dr. A"), ("a=b", "a=b"), (-3, -3), (None, ""), (DAY, DAY.isoformat()),
])
def test_csv_cell(value, cell):
    assert csv_cell(value) == cell


def test_every_report_has_a_unique_name_and_a_section_on_the_page(login_as):
    assert len(BY_NAME) == len(REPORTS)
    page = login_as("admin").get("/dashboard/").get_data(as_text=True)
    for report in REPORTS:
        assert f'id="report-{report.name}"' in page
        assert f'href="/dashboard/{report.name}.csv?from=' in page
