"""Real threads on real connections racing for the same slots: no double booking, ever."""
from __future__ import annotations

from collections import Counter

import pytest

from portal.actor import Actor
from portal.extensions import db
from portal.idempotency import new_key
from portal.schedule import services
from portal.schedule.services import ScheduleError, SlotTaken
from tests.factories import make_slots
from tests.helpers import assert_invariants, count, race

pytestmark = pytest.mark.pgbouncer  # run again through PgBouncer by make test

THREADS = 16
ROUNDS = 50


def kind(outcome) -> str:
    if isinstance(outcome, SlotTaken):
        return "taken"
    if isinstance(outcome, Exception):
        return f"error:{type(outcome).__name__}:{outcome}"
    return "booked"


def test_sixteen_threads_same_slot_fifty_rounds(racing_app, doctors, patients):
    slot_ids = make_slots(racing_app, doctors[0], count=ROUNDS, minutes=10)
    for slot_id in slot_ids:
        outcomes = race(racing_app, [
            (lambda p=patients[i], s=slot_id: services.book([s], p, None, Actor.system(), new_key()))
            for i in range(THREADS)])
        kinds = Counter(kind(o) for o in outcomes)
        assert kinds == {"booked": 1, "taken": THREADS - 1}, kinds
        assert all(o.status == 409 for o in outcomes if isinstance(o, SlotTaken))
    assert count(racing_app, "SELECT count(*) FROM appointment WHERE status <> 'cancelled'") == ROUNDS
    assert count(racing_app, "SELECT count(DISTINCT appointment_id) FROM slot WHERE status = 'booked'") == ROUNDS
    assert_invariants(racing_app)


def test_same_key_sixteen_times_at_once_creates_one_appointment(racing_app, doctors, patients):
    slot_ids = make_slots(racing_app, doctors[0], count=2)
    key = new_key()
    outcomes = race(racing_app, [lambda: services.book(slot_ids, patients[0], "twice", Actor.system(), key)] * THREADS)
    assert all(isinstance(o, services.BookingResult) for o in outcomes), outcomes
    assert len({o.appointment_id for o in outcomes}) == 1
    assert sum(o.created for o in outcomes) == 1
    assert count(racing_app, "SELECT count(*) FROM appointment") == 1
    assert count(racing_app, "SELECT count(*) FROM idempotency_key") == 1
    assert_invariants(racing_app)


def test_reschedule_racing_a_booking_for_the_target(racing_app, staff, doctors, patients):
    rounds = 20
    slot_ids = make_slots(racing_app, doctors[0], count=2 * rounds, minutes=10)
    wins = Counter()
    for r in range(rounds):
        source, target = slot_ids[2 * r], slot_ids[2 * r + 1]
        with racing_app.app_context():
            moving = services.book([source], patients[0], None, Actor.system(), new_key()).appointment_id
            db.session.remove()
        outcomes = race(racing_app, [
            lambda m=moving, t=target: services.reschedule(m, [t], Actor(staff["reception"], "reception")),
            lambda p=patients[1 + r % 30], t=target: services.book([t], p, None, Actor.system(), new_key()),
        ])
        moved, booked = outcomes
        assert isinstance(moved, SlotTaken) != isinstance(booked, SlotTaken), outcomes
        winner = "reschedule" if not isinstance(moved, Exception) else "booking"
        wins[winner] += 1
        source_status = count(racing_app, "SELECT status FROM slot WHERE id = :s", s=source)
        held_by_moving = count(racing_app, "SELECT count(*) FROM slot WHERE appointment_id = :a", a=moving)
        assert held_by_moving == 1
        assert source_status == ("open" if winner == "reschedule" else "booked")
        assert_invariants(racing_app)
    assert sum(wins.values()) == rounds


def test_overlapping_multi_slot_bookings_never_deadlock(racing_app, doctors, patients):
    slot_ids = make_slots(racing_app, doctors[0], count=12)
    for start in range(0, 8, 4):
        window = slot_ids[start:start + 5]
        # Each thread wants two neighbouring slots; neighbours share one: only non-sharing ones win.
        calls = [(lambda i=i, w=window: services.book(w[i:i + 2], patients[i], None, Actor.system(), new_key()))
                 for i in range(4)] * 4
        outcomes = race(racing_app, calls)
        assert not any(isinstance(o, Exception) and not isinstance(o, ScheduleError) for o in outcomes), outcomes
        assert 1 <= sum(isinstance(o, services.BookingResult) for o in outcomes) <= 2
        assert_invariants(racing_app)


def test_one_patient_booked_at_two_doctors_at_once_gets_one(racing_app, doctors, patients):
    first = make_slots(racing_app, doctors[0], count=1)
    second = make_slots(racing_app, doctors[1], count=1)
    outcomes = race(racing_app, [lambda: services.book(first, patients[0], None, Actor.system(), new_key()),
                                 lambda: services.book(second, patients[0], None, Actor.system(), new_key())] * 8)
    assert sum(isinstance(o, services.BookingResult) for o in outcomes) == 1
    assert all(isinstance(o, ScheduleError) for o in outcomes if not isinstance(o, services.BookingResult))
    assert_invariants(racing_app)


def test_cancel_racing_a_booking_of_the_freed_slot(racing_app, staff, doctors, patients):
    slot_ids = make_slots(racing_app, doctors[0], count=10, minutes=10)
    for slot_id in slot_ids:
        with racing_app.app_context():
            held = services.book([slot_id], patients[0], None, Actor.system(), new_key()).appointment_id
            db.session.remove()
        outcomes = race(racing_app, [
            lambda h=held: services.cancel(h, "patient", "ill", Actor(staff["reception"], "reception")),
            lambda s=slot_id: services.book([s], patients[1], None, Actor.system(), new_key()),
        ])
        assert not isinstance(outcomes[0], Exception), outcomes
        assert isinstance(outcomes[1], (services.BookingResult, SlotTaken)), outcomes
        assert_invariants(racing_app)


def test_lock_timeout_reaches_the_user_as_just_taken(make_app, database_url, staff, doctors, patients):
    """A slot row held by a stuck transaction: the booking gives up after lock_timeout with a 409."""
    import psycopg

    from tests.helpers import csrf_from, login

    quick = make_app(DB_LOCK_TIMEOUT_MS=200)
    slot_ids = make_slots(quick, doctors[0], count=1)
    client = quick.test_client()
    login(client, "reception1")
    csrf = csrf_from(client.get("/schedule/").get_data(as_text=True))
    with psycopg.connect(database_url) as holder:
        holder.execute("SELECT id FROM slot WHERE id = %s FOR UPDATE", (slot_ids[0],))
        with quick.app_context():
            try:
                services.book(slot_ids, patients[0], None, Actor.system(), new_key())
                raised = None
            except SlotTaken as error:
                raised = error
            finally:
                db.session.remove()
        answer = client.post("/schedule/book", data={"slot_id": slot_ids[0], "patient_id": patients[1],
                                                     "length": 1, "key": new_key(), "csrf_token": csrf},
                             headers={"HX-Request": "true", "HX-Target": "panel"})
        holder.rollback()
    assert raised is not None and raised.status == 409
    assert answer.status_code == 409 and "just taken" in answer.get_data(as_text=True)
    assert count(quick, "SELECT count(*) FROM appointment") == 0


def test_a_change_to_a_locked_appointment_is_refused_clearly(make_app, database_url, staff, doctors, patients):
    """An appointment row held by another desk: cancel, status change and review give up with a 409."""
    import psycopg

    quick = make_app(DB_LOCK_TIMEOUT_MS=200)
    slot_ids = make_slots(quick, doctors[0], count=1)
    with quick.app_context():
        booked = services.book(slot_ids, patients[0], None, Actor(staff["reception"], "reception"), new_key(),
                               pending_review=True)
        db.session.remove()
    changes = [
        lambda: services.cancel(booked.appointment_id, "patient", "Ill", Actor(staff["reception"], "reception")),
        lambda: services.change_status(booked.appointment_id, "confirmed", Actor(staff["reception"], "reception")),
        lambda: services.review(booked.appointment_id, "approve", None, Actor(staff["doctor"], "doctor")),
    ]
    refused = []
    with psycopg.connect(database_url) as holder:
        holder.execute("SELECT id FROM appointment WHERE id = %s FOR UPDATE", (booked.appointment_id,))
        for change in changes:
            with quick.app_context():
                try:
                    change()
                except ScheduleError as error:
                    refused.append((error.status, error.message))
                finally:
                    db.session.remove()
        holder.rollback()
    assert refused == [(409, "Someone else is changing this appointment. Try again.")] * 3
    assert count(quick, "SELECT count(*) FROM appointment WHERE status = 'pending_review'") == 1
    assert count(quick, "SELECT count(*) FROM slot WHERE status = 'booked'") == 1
