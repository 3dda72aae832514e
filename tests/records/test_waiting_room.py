"""The waiting room: today's checked-in patients by doctor, their stage and how long they have waited."""
from __future__ import annotations

from portal.records import services
from tests.helpers import login

from .conftest import make_appointment, make_patient
from .helpers import nurse, started


def test_stages_and_waiting_time(app, client, staff, doctors):
    waiting = make_appointment(app, make_patient(app, "Waiting"), doctors[0])
    measured = make_appointment(app, make_patient(app, "Measured"), doctors[0], hours_from_now=-0.1)
    consulting = make_appointment(app, make_patient(app, "Consulting"), doctors[0], hours_from_now=-0.2)
    make_appointment(app, make_patient(app, "Booked"), doctors[1], status="booked", hours_from_now=-0.3)
    with app.app_context():
        services.record_vitals(measured, {"pulse_bpm": 80}, nurse(staff))
    started(app, staff, consulting)
    assert login(client, "reception1").status_code == 302
    response = client.get("/records/waiting-room")
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "Dr. Test One" in body
    assert f'data-appointment="{waiting}" data-stage="waiting for vitals"' in body
    assert f'data-appointment="{measured}" data-stage="ready for the doctor"' in body
    assert f'data-appointment="{consulting}" data-stage="in consultation"' in body
    assert "Booked Otieno" not in body and " min" in body and "past" not in body
    poll = client.get("/records/waiting-room", headers={"HX-Request": "true"})
    assert poll.status_code == 200 and "<html" not in poll.get_data(as_text=True)
