"""Who sees what of a real signed visit, route by role, and one audit event per view."""
from __future__ import annotations

import pytest

from tests.helpers import ROLES, admin_connection, login

from .helpers import signed

ASSESSMENT, PLAN = "Tension headache", "Rest, fluids"
# url template -> (roles let in, roles that see the assessment, roles that see the plan)
MATRIX = {
    "/records/appointments/{visit}": ({"doctor", "nurse"}, {"doctor"}, {"doctor", "nurse"}),
    "/records/consultations/{consultation}/summary": ({"doctor"}, {"doctor"}, {"doctor"}),
    "/records/consultations/{consultation}/prescription": ({"doctor", "nurse"}, set(), set()),
    "/records/patients/{patient}/clinical": ({"doctor", "nurse"}, {"doctor"}, {"doctor", "nurse"}),
    "/records/patients/{patient}/timeline": ({"doctor", "nurse"}, {"doctor"}, {"doctor", "nurse"}),
    "/records/patients/{patient}/allergies": (set(ROLES), set(), set()),
    "/records/icd10?q=I10": ({"doctor"}, set(), set()),
    "/records/waiting-room": (set(ROLES), set(), set()),
    "/records/notes": ({"doctor", "admin"}, set(), set()),
    "/records/consultations/{consultation}/follow-up/slots": ({"doctor"}, set(), set()),
}


@pytest.fixture
def record(app, staff, visit, patient):
    consultation = signed(app, staff, visit, plan=PLAN)
    return {"visit": visit, "consultation": consultation, "patient": patient}


@pytest.mark.parametrize("role", ROLES)
def test_every_records_page_by_role(app, database_url, record, role):
    client = app.test_client()
    assert login(client, f"{role}1").status_code == 302
    for template, (allowed, see_assessment, see_plan) in MATRIX.items():
        url = template.format(**record)
        with admin_connection(database_url) as conn:
            before = conn.execute("SELECT count(*) FROM audit_event").fetchone()[0]
        response = client.get(url)
        body = response.get_data(as_text=True)
        assert response.status_code == (200 if role in allowed else 403), (role, url, response.status_code)
        assert (ASSESSMENT in body) == (role in see_assessment), (role, url)
        assert (PLAN in body) == (role in see_plan), (role, url)
        with admin_connection(database_url) as conn:
            after = conn.execute("SELECT count(*) FROM audit_event").fetchone()[0]
        clinical = "allergies" not in url and "icd10" not in url and "slots" not in url  # no patient data
        assert after - before == (1 if role in allowed and clinical else 0), (role, url, after - before)


def test_the_clinical_tab_of_another_doctors_patient_asks_for_the_reason_in_place(app, client, login_as, staff,
                                                                                  doctors, database_url):
    from .conftest import make_appointment, make_patient
    other = make_patient(app, "Zawadi", allergies=None)
    make_appointment(app, other, doctors[1])
    login_as("doctor")
    tab = client.get(f"/records/patients/{other}/clinical",
                     headers={"HX-Request": "true", "HX-Current-URL": f"http://localhost/patients/{other}"})
    body = tab.get_data(as_text=True)
    assert tab.status_code == 403 and "not under your care" in body and "<html" not in body
    assert f'name="back" value="/patients/{other}"' in body
    with admin_connection(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM audit_event WHERE action LIKE 'records.%%'").fetchone()[0] == 0
