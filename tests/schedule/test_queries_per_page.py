"""No N+1 queries: a page sends as many SQL statements for 30 rows as for 2 (the audit's Phase 3)."""
from __future__ import annotations

from contextlib import contextmanager
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import event

from portal import clinic_time
from portal.extensions import db
from tests.factories import book, make_appointment, make_doctor, make_patients


@contextmanager
def counting_statements(app):
    """Collect every statement the app sends to PostgreSQL while the block runs."""
    with app.app_context():
        engine = db.engine
    sent: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        sent.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", record)


def statements_for(app, client, url: str, *, htmx: bool = False) -> int:
    with counting_statements(app) as sent:
        response = client.get(url, headers={"HX-Request": "true"} if htmx else {})
    assert response.status_code == 200, (url, response.status_code)
    assert sent, "no statement seen: the counter is not listening"
    return len(sent)


def add_patients(app, n: int, start: int) -> list[int]:
    return make_patients(app, n, start, first_name="Nplus{i}", last_name="Counted", date_of_birth=date(1985, 3, 1),
                         sex="male", phone="+2547330{i:05d}")


def book_each(app, slot_ids: list[int], patient_ids: list[int]) -> None:
    for slot_id, patient_id in zip(slot_ids, patient_ids, strict=True):
        book(app, [slot_id], patient_id, "check-up")


def schedule_pages(day: str, doctor_id: int) -> dict[str, tuple[str, str, bool]]:
    return {"day grid": ("reception", f"/schedule/?date={day}", False),
            "grid refresh": ("reception", f"/schedule/grid?date={day}", True),
            "day list": ("nurse", f"/schedule/list?date={day}", False),
            "one doctor's day list": ("nurse", f"/schedule/list?date={day}&doctor={doctor_id}", False),
            "doctor's upcoming": ("doctor", "/schedule/mine", False)}


@pytest.mark.parametrize("page", list(schedule_pages("", 0)))
def test_schedule_pages_send_the_same_statements_for_2_or_30_appointments(app, client, login_as, doctors,
                                                                          slots, page):
    with app.app_context():
        day = (clinic_time.today() + timedelta(days=1)).isoformat()
    role, url, htmx = schedule_pages(day, doctors[0])[page]
    first, second = (slots[d] for d in doctors)
    people = add_patients(app, 30, 0)
    book_each(app, [first[0], second[0]], people[:2])
    login_as(role)
    few = statements_for(app, client, url, htmx=htmx)
    book_each(app, first[1:15] + second[1:15], people[2:])
    many = statements_for(app, client, url, htmx=htmx)
    assert many == few, f"{page}: {few} statements for 2 appointments, {many} for 30"


@pytest.fixture
def patient_with_history(app):
    """A patient and a function that gives them n more past or upcoming appointments, each with another doctor."""
    patient_id = add_patients(app, 1, 900)[0]
    added = {"n": 0}

    def add(n: int, when: str) -> int:
        now = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
        base = now + timedelta(days=1) if when == "upcoming" else now - timedelta(days=400)
        for i in range(added["n"], added["n"] + n):
            doctor = make_doctor(app, f"Dr. History {i}", f"HIST-{i}", "Surgery")
            make_appointment(app, patient_id, doctor, base + timedelta(days=i),
                             status="booked" if when == "upcoming" else "completed")
        added["n"] += n
        return patient_id

    return add


@pytest.mark.parametrize("when", ["past", "upcoming"])
def test_profile_appointment_tabs_send_the_same_statements_for_2_or_30_rows(app, client, login_as,
                                                                           patient_with_history, when):
    patient_id = patient_with_history(2, when)
    login_as("reception")
    url = f"/patients/{patient_id}/appointments?when={when}&limit=50"
    few = statements_for(app, client, url, htmx=True)
    patient_with_history(28, when)
    body = client.get(url, headers={"HX-Request": "true"}).get_data(as_text=True)
    assert body.count("Dr. History") == 30
    assert statements_for(app, client, url, htmx=True) == few


@pytest.mark.parametrize("url", ["/patients/list", "/patients/?q=Counted", "/patients/?q=nplus"])
def test_patient_lists_and_search_send_the_same_statements_for_2_or_30_patients(app, client, login_as, url):
    add_patients(app, 2, 0)
    login_as("reception")
    few = statements_for(app, client, url)
    add_patients(app, 28, 2)
    assert statements_for(app, client, url) == few
