"""The test helpers themselves: factories make what they say, and a test without a database never reaches one."""
from __future__ import annotations

import os
import subprocess
import sys
from datetime import date, datetime, time, timedelta, timezone
from xml.etree import ElementTree

from sqlalchemy import text

from portal import ROOT, clinic_time
from portal.extensions import db
from tests import factories
from tests.helpers import count, login

# Nothing listens on port 9 of this host: a test that opens the database fails at once.
UNREACHABLE = "postgresql://nobody@127.0.0.1:9/postgres?connect_timeout=3"
PURE_MODULES = ["tests/test_validation.py", "tests/test_clinic_time.py", "tests/test_docs.py"]
DATABASE_TEST = "tests/test_smoke.py::test_login_page_is_served"


def test_tests_that_ask_for_no_database_neither_start_nor_empty_one(tmp_path):
    """A child pytest whose only PostgreSQL cannot be reached: the pure tests pass, a database test errors.

    The erroring test shows that the child notices any attempt to start, open or empty a database.
    """
    report = tmp_path / "report.xml"
    env = {**os.environ, "TEST_DATABASE_URL": UNREACHABLE}
    env.pop("PYTEST_ADDOPTS", None)
    child = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}",
                            *PURE_MODULES, DATABASE_TEST], cwd=ROOT, env=env, capture_output=True, text=True,
                           timeout=300)
    outcomes = {}
    for case in ElementTree.parse(report).getroot().iter("testcase"):
        kinds = [element.tag for element in case if element.tag in ("failure", "error", "skipped")]
        outcomes[f"{case.get('classname')}::{case.get('name')}"] = kinds[0] if kinds else "passed"
    database = outcomes.pop("tests.test_smoke::test_login_page_is_served")
    assert database == "error" and "port 9" in child.stdout, child.stdout[-3000:]
    assert len(outcomes) > 100, child.stdout[-3000:]
    assert {name: kind for name, kind in outcomes.items() if kind not in ("passed", "skipped")} == {}


def test_make_staff_signs_in_with_the_test_password(app, client):
    user_id = factories.make_staff(app, "nurse", username="nurse77", full_name="Akinyi Otieno")
    assert count(app, "SELECT role || ' ' || full_name || ' ' || is_active FROM staff_user WHERE id = :u",
                 u=user_id) == "nurse Akinyi Otieno true"
    assert login(client, "nurse77").status_code == 302


def test_an_inactive_staff_member_cannot_sign_in(app, client):
    factories.make_staff(app, "reception", username="gone1", active=False)
    assert login(client, "gone1").status_code != 302


def test_staff_fixture_is_one_user_per_role(app, staff):
    assert sorted(staff) == sorted(factories.ROLES)
    assert count(app, "SELECT string_agg(username, ',' ORDER BY id) FROM staff_user") == \
        ",".join(f"{role}1" for role in factories.ROLES)


def test_make_doctor_stores_weekly_hours_without_slots(app):
    doctor_id = factories.make_doctor(app, hours=factories.EVERY_DAY, slot_minutes=20)
    assert count(app, "SELECT count(*) FROM availability WHERE doctor_id = :d", d=doctor_id) == 14
    assert count(app, "SELECT count(*) FROM slot") == 0
    assert count(app, "SELECT slot_minutes FROM doctor WHERE id = :d", d=doctor_id) == 20
    other = factories.make_doctor(app)  # a second default doctor gets its own licence number
    assert count(app, "SELECT count(DISTINCT licence_number) FROM doctor WHERE id IN (:a, :b)",
                 a=doctor_id, b=other) == 2


def test_doctors_fixture_links_the_first_to_the_doctor_login(app, staff, doctors):
    assert count(app, "SELECT string_agg(name || ':' || coalesce(user_id::text, '-'), ',' ORDER BY id) "
                      "FROM doctor") == f"Dr. Test One:{staff['doctor']},Dr. Test Two:-"


def test_make_slots_open_consecutive_slots_from_eight_clinic_time(app, doctors):
    ids = factories.make_slots(app, doctors[0], day_offset=2, count=3, minutes=20)
    with app.app_context():
        rows = db.session.execute(
            text("SELECT starts_at, ends_at, status FROM slot WHERE id = ANY(:ids) ORDER BY starts_at"),
            {"ids": ids}).all()
        day = clinic_time.today() + timedelta(days=2)
    assert [r.status for r in rows] == ["open"] * 3
    assert [clinic_time.local(r.starts_at).time() for r in rows] == [time(8), time(8, 20), time(8, 40)]
    assert {clinic_time.local_date(r.starts_at) for r in rows} == {day}
    assert rows[0].ends_at == rows[1].starts_at and rows[2].ends_at - rows[2].starts_at == timedelta(minutes=20)


def test_make_patients_number_names_and_phones(app):
    ids = factories.make_patients(app, 3, start=5, first_name="Kid{i}", phone="+2547999000{i:02d}")
    assert count(app, "SELECT string_agg(first_name || ' ' || last_name || ' ' || phone, ',' ORDER BY id) "
                      "FROM patient WHERE id = ANY(:ids)", ids=ids) == \
        "Kid5 Tester +254799900005,Kid6 Tester +254799900006,Kid7 Tester +254799900007"


def test_register_patient_goes_through_the_service(app):
    patient_id, file_number = factories.register_patient(app, first_name="Baraka", phone="0733 111 222")
    assert file_number.startswith("KL-")
    assert count(app, "SELECT phone FROM patient WHERE id = :p", p=patient_id) == "+254733111222"
    assert count(app, "SELECT action FROM audit_event WHERE patient_id = :p", p=patient_id) == "patient.register"


def test_book_goes_through_the_booking_service(app, staff, slots, patients):
    ids = next(iter(slots.values()))
    result = factories.book(app, ids[:2], patients[0], "Review", staff["reception"])
    assert result.created and result.slot_ids == ids[:2]
    assert count(app, "SELECT string_agg(status, ',') FROM slot WHERE appointment_id = :a",
                 a=result.appointment_id) == "booked,booked"
    assert count(app, "SELECT reason || ' ' || created_by_id FROM appointment") == f"Review {staff['reception']}"


def test_make_appointment_writes_a_row_without_slots(app, doctors, patients):
    starts = datetime(2026, 11, 24, 5, tzinfo=timezone.utc)
    appointment_id = factories.make_appointment(app, patients[1], doctors[1], starts, minutes=45, status="completed")
    assert count(app, "SELECT status || ' ' || (ends_at - starts_at) FROM appointment WHERE id = :a",
                 a=appointment_id) == "completed 00:45:00"
    assert count(app, "SELECT count(*) FROM slot WHERE appointment_id = :a", a=appointment_id) == 0


def test_rows_of_one_test_are_gone_in_the_next(app):
    """Runs after the tests above (file order): clean_tables emptied what they made."""
    assert count(app, "SELECT (SELECT count(*) FROM patient) + (SELECT count(*) FROM staff_user)") == 0


def test_the_patient_form_is_valid_as_given():
    from portal.patients.forms import parse_patient_form
    parsed = parse_patient_form(factories.patient_form(), date(2026, 11, 24))
    assert parsed.ok, parsed.errors
    assert not parse_patient_form(factories.patient_form(phone="12"), date(2026, 11, 24)).ok
