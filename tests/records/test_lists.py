"""The notes list filtered by patient through the indexed patient search, and My day's start button."""
from __future__ import annotations

from portal.extensions import db
from portal.models import Appointment
from tests.helpers import csrf_from

from .conftest import make_appointment, make_patient
from .helpers import signed


def test_notes_filter_by_patient_through_the_patient_search(app, client, login_as, staff, doctors):
    amina = make_patient(app, "Amina")
    baraka = make_patient(app, "Baraka", allergies=None)
    for patient_id, hours in ((amina, -30), (baraka, -50)):
        signed(app, staff, make_appointment(app, patient_id, doctors[0], hours_from_now=hours))
    login_as("doctor")
    every = client.get("/records/notes").get_data(as_text=True)
    assert every.count("data-consultation=") == 2
    only = client.get("/records/notes?patient=amina").get_data(as_text=True)
    assert only.count("data-consultation=") == 1 and "Amina Otieno" in only and "Baraka" not in only.split("<table")[1]
    assert 'id="notes-patient-matches"' in only
    nobody = client.get("/records/notes?patient=Zzyzx").get_data(as_text=True)
    assert nobody.count("data-consultation=") == 0 and "No notes match" in nobody
    assert client.get("/records/notes?patient=a%00b").status_code < 500  # search_term cleans it
    assert client.get("/records/notes?limit=100000").status_code == 200


def test_my_day_starts_todays_checked_in_patient(app, client, login_as, staff, doctors, patient):
    visit = make_appointment(app, patient, doctors[0], hours_from_now=-0.05)
    login_as("doctor")
    body = client.get("/schedule/mine").get_data(as_text=True)
    assert f'data-start="{visit}"' in body
    started = client.post(f"/records/appointments/{visit}/start",
                          headers={"HX-Request": "true", "X-CSRFToken": csrf_from(body)})
    assert started.status_code == 204 and started.headers["HX-Redirect"].endswith(f"/records/appointments/{visit}")
    with app.app_context():
        assert db.session.get(Appointment, visit).status == "in_consultation"
    assert f'data-visit="{visit}"' in client.get("/schedule/mine").get_data(as_text=True)
