"""Profile (one audit event per view, tabs, paging, book link), approval, assignment, list, access."""
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select, text

from portal import clinic_time
from portal.extensions import db
from portal.models import AuditEvent, Patient
from tests.factories import make_appointment, make_doctor
from tests.helpers import csrf_from


def audit_count(app, action) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(AuditEvent)
                                 .where(AuditEvent.action == action))


@pytest.mark.parametrize("role", ["admin", "reception", "doctor", "nurse"])
def test_every_role_reads_a_profile_and_each_view_is_audited_once(app, client, login_as, register, role):
    patient_id, file_number = register(allergies="Penicillin")
    login_as(role)
    page = client.get(f"/patients/{patient_id}")
    body = page.get_data(as_text=True)
    assert page.status_code == 200 and file_number in body
    assert "Penicillin" in body and "has-allergies" in body
    assert page.headers["Cache-Control"] == "no-store"
    # Only a role that can complete a booking is offered one (doctors and nurses cannot book).
    assert (f"/schedule/?patient_id={patient_id}" in body) == (role in ("admin", "reception"))
    client.get(f"/patients/{patient_id}/appointments?when=upcoming")
    client.get(f"/patients/{patient_id}/appointments?when=past")
    assert audit_count(app, "patient.view") == 1
    client.get(f"/patients/{patient_id}")
    assert audit_count(app, "patient.view") == 2
    with app.app_context():
        event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "patient.view")).first()
        assert event.patient_id == patient_id and event.user_id is not None and event.ip


def test_unknown_patient_is_a_404_not_a_500(app, client, login_as):
    login_as("reception")
    assert client.get("/patients/999999").status_code == 404
    assert client.get("/patients/999999/appointments").status_code == 404
    assert client.get("/patients/abc").status_code == 404


@pytest.fixture
def with_appointments(app, register):
    """A patient with 12 past and 12 upcoming appointments."""
    patient_id, _ = register()
    doctor = make_doctor(app, "Dr. Test", "T-1", "Surgery")
    now = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
    for offset in list(range(-12, 0)) + list(range(1, 13)):
        make_appointment(app, patient_id, doctor, now + timedelta(days=offset),
                         status="completed" if offset < 0 else "booked")
    return patient_id


def test_appointment_tabs_are_paged_by_keyset(app, client, login_as, with_appointments):
    login_as("nurse")
    first = client.get(f"/patients/{with_appointments}/appointments?when=upcoming",
                       headers={"HX-Request": "true"}).get_data(as_text=True)
    assert first.count("<tr><td>") == 10 and "booked" in first and "completed" not in first
    cursor = first.split("cursor=")[1].split('"')[0].replace("&amp;", "&").replace("%7C", "|")
    second = client.get(f"/patients/{with_appointments}/appointments?when=upcoming&cursor={cursor}")
    assert second.get_data(as_text=True).count("<tr><td>") == 2
    past = client.get(f"/patients/{with_appointments}/appointments?when=past&limit=5").get_data(as_text=True)
    assert past.count("<tr><td>") == 5 and "completed" in past
    huge = client.get(f"/patients/{with_appointments}/appointments?when=past&limit=100000&cursor=junk")
    assert huge.status_code == 200 and huge.get_data(as_text=True).count("<tr><td>") == 12


def test_approval_records_who_and_when(app, client, login_as, staff, register):
    patient_id, _ = register()
    login_as("reception")
    token = csrf_from(client.get(f"/patients/{patient_id}").get_data(as_text=True))
    response = client.post(f"/patients/{patient_id}/approve", data={"csrf_token": token, "version": "1"})
    assert response.status_code == 303
    with app.app_context():
        patient = db.session.get(Patient, patient_id)
        assert patient.approved_by_id == staff["reception"] and patient.approved_at is not None
    again = client.post(f"/patients/{patient_id}/approve", data={"csrf_token": token, "version": "2"})
    assert again.status_code == 409 and "already approved" in again.get_data(as_text=True)
    assert "Approved" in client.get(f"/patients/{patient_id}").get_data(as_text=True)


def test_assignment_to_staff_and_refusals(app, client, login_as, staff, register):
    patient_id, _ = register()
    login_as("admin")
    token = csrf_from(client.get(f"/patients/{patient_id}").get_data(as_text=True))
    ok = client.post(f"/patients/{patient_id}/assign",
                     data={"csrf_token": token, "version": "1", "assigned_to_id": staff["doctor"]})
    assert ok.status_code == 303
    stale = client.post(f"/patients/{patient_id}/assign",
                        data={"csrf_token": token, "version": "1", "assigned_to_id": staff["nurse"]})
    assert stale.status_code == 409
    nobody = client.post(f"/patients/{patient_id}/assign",
                         data={"csrf_token": token, "version": "2", "assigned_to_id": "424242"})
    assert nobody.status_code == 422
    junk = client.post(f"/patients/{patient_id}/assign",
                       data={"csrf_token": token, "version": "2", "assigned_to_id": "x'--"})
    assert junk.status_code == 422
    with app.app_context():
        assert db.session.get(Patient, patient_id).assigned_to_id == staff["doctor"]


@pytest.mark.parametrize("role,status", [("doctor", 403), ("nurse", 403)])
def test_readers_cannot_change_or_list(app, client, login_as, register, role, status):
    patient_id, _ = register()
    login_as(role)
    token = csrf_from(client.get(f"/patients/{patient_id}").get_data(as_text=True))
    approved = client.post(f"/patients/{patient_id}/approve", data={"csrf_token": token, "version": "1"})
    assert approved.status_code == status
    assert client.get(f"/patients/{patient_id}/edit").status_code == status
    assert client.get("/patients/list").status_code == status


def test_anonymous_is_sent_to_login(client, register):
    patient_id, _ = register()
    assert client.get(f"/patients/{patient_id}").status_code == 302
    assert client.get("/patients/?q=wanj", headers={"HX-Request": "true"}).status_code == 401


def test_patient_list_filters_and_keyset_pages(app, client, login_as, staff, register):
    ids = [register(phone=f"0712 000 {i:03d}", first_name=f"Name {chr(97 + i % 26)}{chr(97 + i // 26)}")[0]
           for i in range(30)]
    with app.app_context():
        db.session.execute(text("UPDATE patient SET created_at = now() - (id || ' days')::interval"))
        db.session.execute(text("UPDATE patient SET approved_at = now() WHERE id % 2 = 0"))
        db.session.execute(text("UPDATE patient SET assigned_to_id = :me WHERE id % 5 = 0"),
                           {"me": staff["reception"]})
        db.session.commit()
    login_as("reception")
    seen, cursor = [], None
    for _ in range(5):
        url = "/patients/list?limit=12" + (f"&cursor={cursor}" if cursor else "")
        body = client.get(url).get_data(as_text=True)
        seen += [int(x.split('"')[0]) for x in body.split('href="/patients/')[1:] if x[0].isdigit()]
        if 'id="next-page"' not in body:
            break
        cursor = body.split("cursor=")[1].split("&")[0].split('"')[0]
    assert sorted(set(seen)) == sorted(ids) and len(seen) == 30
    assert seen == sorted(ids)  # newest (lowest id here) first
    pending = client.get("/patients/list?pending=1&limit=100").get_data(as_text=True)
    assert pending.count("badge pending") == 15
    mine = client.get("/patients/list?mine=1").get_data(as_text=True)
    assert mine.count("<tr><td>KL-") == 6
    capped = client.get("/patients/list?limit=5000").get_data(as_text=True)
    assert capped.count("<tr><td>KL-") == 30
    odd = client.get("/patients/list?from=2001-02-30&to=junk&cursor=%00")
    assert odd.status_code == 200 and "could not be read" in odd.get_data(as_text=True)
    with app.app_context():
        today = clinic_time.today()  # the clinic's day, not UTC's
    recent = client.get(f"/patients/list?from={today - timedelta(days=4)}&to={today}&limit=100")
    assert recent.get_data(as_text=True).count("<tr><td>KL-") == 4  # registered 1 to 4 days ago
