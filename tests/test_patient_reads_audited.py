"""Every page or fragment that shows a patient writes an audit event naming that patient.

The walk requests every GET route as every role over the demo clinic, with real ids in the
path and a patient, a date and a search term in the query string. Wherever a patient's name or
file number appears in an answer, the events written by that request must name the patient:
in `patient_id`, or in the detail's `patient_ids` for a list (one event per view, not per row).
"""
from __future__ import annotations

from html import escape

from flask import url_for
from sqlalchemy import select, text

from portal import clinic_time
from portal.extensions import db
from portal.models import Appointment, Doctor, Patient, Slot
from portal.seed import DEMO_PASSWORD, seed_demo
from tests.conftest import login

USERS = ("admin", "reception", "nurse", "dr.mwangi")
# The grid's 10-second poll repeats what the day page's own event recorded; it is not an action.
POLLS = {"schedule.grid"}


def _demo(app) -> dict:
    with app.app_context():
        seed_demo()
        mwangi = db.session.scalar(select(Doctor.id).where(Doctor.licence_number == "KMPDC-A1001"))
        appointment = db.session.scalars(select(Appointment).where(Appointment.doctor_id == mwangi)
                                         .order_by(Appointment.starts_at.desc())).first()
        slot = db.session.scalar(select(Slot.id).where(Slot.doctor_id == mwangi, Slot.status == "open",
                                                       Slot.starts_at > clinic_time.now())
                                 .order_by(Slot.starts_at))
        patients = db.session.execute(select(Patient.id, Patient.first_name, Patient.last_name,
                                             Patient.file_number)).all()
        patient = db.session.get(Patient, appointment.patient_id)
        return {
            "path": {"patient_id": patient.id, "appointment_id": appointment.id, "doctor_id": mwangi,
                     "slot_id": slot, "field": "phone", "time_off_id": 1, "report": "attendance"},
            "query": {"patient_id": patient.id, "q": patient.last_name, "doctor_id": mwangi,
                      "date": clinic_time.local_date(appointment.starts_at).isoformat()},
            "patients": patients,
        }


def _shown(body: str, patients) -> dict[str, set[int]]:
    """Patients whose name or file number is in the answer: {what was seen: candidate ids}."""
    seen: dict[str, set[int]] = {}
    for row in patients:
        name = f"{row.first_name} {row.last_name}"
        for mark in (name, escape(name), row.file_number):
            if mark in body:
                seen.setdefault(name if mark != row.file_number else mark, set()).add(row.id)
    return seen


def _recorded_since(app, last_id: int) -> tuple[set[int], int]:
    with app.app_context():
        rows = db.session.execute(text("SELECT id, patient_id, detail FROM audit_event WHERE id > :last"),
                                  {"last": last_id}).all()
        db.session.remove()
    ids = {row.patient_id for row in rows if row.patient_id}
    for row in rows:
        ids.update((row.detail or {}).get("patient_ids", []))
    return ids, max([last_id] + [row.id for row in rows])


def test_every_view_that_shows_a_patient_names_them_in_an_audit_event(app):
    demo = _demo(app)
    unaudited, checked = [], 0
    _, last = _recorded_since(app, 0)
    for username in USERS:
        client = app.test_client()
        assert login(client, username, DEMO_PASSWORD).status_code == 302
        for rule in app.url_map.iter_rules():
            if "GET" not in rule.methods or rule.endpoint == "static" or rule.endpoint in POLLS:
                continue
            with app.test_request_context():
                url = url_for(rule.endpoint, **{**demo["query"], **{k: demo["path"][k] for k in rule.arguments}})
            _, last = _recorded_since(app, last)
            response = client.get(url)
            if response.status_code != 200:
                continue
            shown = _shown(response.get_data(as_text=True), demo["patients"])
            recorded, last = _recorded_since(app, last)
            checked += bool(shown)
            missing = sorted(mark for mark, ids in shown.items() if not ids & recorded)
            if missing:
                unaudited.append(f"{username} {rule.endpoint}: {missing}")
    assert unaudited == [], "\n".join(unaudited)
    assert checked >= 10  # the walk did reach the pages that show patients


def test_a_search_is_one_event_listing_the_patients_it_showed(app):
    _demo(app)
    client = app.test_client()
    assert login(client, "reception", DEMO_PASSWORD).status_code == 302
    _, last = _recorded_since(app, 0)
    client.get("/patients/?q=nyambura")
    with app.app_context():
        events = db.session.execute(text("SELECT action, patient_id, detail FROM audit_event WHERE id > :last"),
                                    {"last": last}).all()
        wanted = set(db.session.scalars(select(Patient.id).where(Patient.last_name.like("Nyambura%"))))
    assert len(events) == 1 and events[0].action == "patient.search"
    assert set(events[0].detail["patient_ids"]) == wanted and len(wanted) == 2


def test_a_page_whose_audit_event_cannot_be_written_is_not_shown(app, database_url):
    from tests.helpers import admin_connection
    _demo(app)
    client = app.test_client()
    assert login(client, "reception", DEMO_PASSWORD).status_code == 302
    with admin_connection(database_url, autocommit=True) as conn:
        conn.execute("CREATE FUNCTION refuse_audit() RETURNS trigger LANGUAGE plpgsql AS "
                     "$$ BEGIN RAISE EXCEPTION 'audit store unavailable'; END $$")
        conn.execute("CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_event "
                     "FOR EACH ROW EXECUTE FUNCTION refuse_audit()")
    try:
        withheld = client.get("/patients/?q=nyambura")
    finally:
        with admin_connection(database_url, autocommit=True) as conn:
            conn.execute("DROP TRIGGER refuse_audit ON audit_event")
            conn.execute("DROP FUNCTION refuse_audit()")
    body = withheld.get_data(as_text=True)
    assert withheld.status_code == 503 and "could not record this access" in body
    assert "Nyambura" not in body.replace("nyambura", "")  # no patient in the answer
    assert client.get("/patients/?q=nyambura").status_code == 200  # and the next one works again
