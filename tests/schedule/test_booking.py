"""Booking, cancelling, rescheduling and status rules through the service functions."""
from __future__ import annotations

import pytest
from sqlalchemy import text

from portal.actor import Actor
from portal.domain import DomainError
from portal.extensions import db
from portal.idempotency import IdempotencyError, new_key
from portal.models import Appointment
from portal.schedule import services
from portal.schedule.services import SlotTaken
from tests.factories import book, make_slots
from tests.helpers import assert_invariants, call, count

pytestmark = pytest.mark.pgbouncer  # run again through PgBouncer by make test


def test_book_marks_slots_and_records_who(app, staff, slots, patients):
    doctor, ids = next(iter(slots.items()))
    result = book(app, ids[2:4], patients[0], user_id=staff["reception"])
    assert result.created and result.slot_ids == ids[2:4]
    with app.app_context():
        appointment = db.session.get(Appointment, result.appointment_id)
        assert appointment.status == "booked" and appointment.created_by_id == staff["reception"]
        assert appointment.doctor_id == doctor
        held = db.session.execute(text("SELECT id, status FROM slot WHERE appointment_id = :a ORDER BY id"),
                                  {"a": appointment.id}).all()
        assert [(r.id, r.status) for r in held] == [(ids[2], "booked"), (ids[3], "booked")]
        events = db.session.execute(text("SELECT action, to_status, user_id FROM appointment_event")).all()
        assert [tuple(e) for e in events] == [("booked", "booked", staff["reception"])]
    assert_invariants(app)


def test_second_booking_of_same_slot_is_just_taken(app, slots, patients):
    ids = next(iter(slots.values()))
    book(app, ids[:1], patients[0])
    with pytest.raises(SlotTaken) as taken:
        book(app, ids[:1], patients[1])
    assert taken.value.status == 409 and "just taken" in taken.value.message
    assert count(app, "SELECT count(*) FROM appointment") == 1
    assert_invariants(app)


def test_longer_booking_overlapping_a_booked_slot_is_refused(app, slots, patients):
    ids = next(iter(slots.values()))
    book(app, ids[3:4], patients[0])
    with pytest.raises(SlotTaken):
        book(app, ids[2:5], patients[1])
    assert count(app, "SELECT count(*) FROM appointment") == 1
    assert count(app, "SELECT count(*) FROM slot WHERE status = 'booked'") == 1


def test_cancel_frees_slots_and_booking_again_works(app, staff, slots, patients):
    ids = next(iter(slots.values()))
    first = book(app, ids[:2], patients[0])
    cancelled = call(app, services.cancel, first.appointment_id, "patient", "Travelling",
                     Actor(staff["reception"], "reception"))
    assert cancelled.status == "cancelled"
    assert count(app, "SELECT count(*) FROM slot WHERE status = 'booked'") == 0
    again = book(app, ids[:2], patients[1])
    assert again.appointment_id != first.appointment_id
    assert_invariants(app)


def test_patient_cannot_hold_two_overlapping_appointments(app, slots, patients):
    (d1, ids1), (d2, ids2) = slots.items()
    book(app, ids1[:2], patients[0])
    with pytest.raises(DomainError) as clash:
        book(app, ids2[1:2], patients[0])
    assert "already has an appointment" in clash.value.message
    book(app, ids2[2:3], patients[0])  # right after: fine
    assert_invariants(app)


@pytest.mark.parametrize("bad_ids, message", [
    ([999999], "does not exist"),
    (["abc"], "not valid"),
    ([], "Choose a slot"),
    ([-1], "not valid"),
    (list(range(1, 1001)), "at most 16 slots"),
])
def test_bad_slot_ids_change_nothing(app, slots, patients, bad_ids, message):
    with pytest.raises(DomainError) as error:
        book(app, bad_ids, patients[0])
    assert message in error.value.message
    assert count(app, "SELECT count(*) FROM appointment") == 0
    assert count(app, "SELECT count(*) FROM slot WHERE status <> 'open'") == 0


def test_slots_of_two_doctors_or_with_a_gap_are_refused(app, slots, patients):
    (d1, ids1), (d2, ids2) = slots.items()
    with pytest.raises(DomainError, match="same doctor"):
        book(app, [ids1[0], ids2[1]], patients[0])
    with pytest.raises(DomainError, match="gap"):
        book(app, [ids1[0], ids1[2]], patients[0])
    assert count(app, "SELECT count(*) FROM appointment") == 0


def test_past_slot_and_unknown_patient_are_refused(app, doctors, slots, patients):
    past = make_slots(app, doctors[0], day_offset=-1, count=1)
    with pytest.raises(DomainError, match="already passed"):
        book(app, past, patients[0])
    ids = slots[doctors[0]]
    with pytest.raises(DomainError, match="patient does not exist"):
        book(app, ids[:1], 987654)
    with pytest.raises(DomainError, match="Choose a patient"):
        book(app, ids[:1], "nobody")
    assert count(app, "SELECT count(*) FROM appointment") == 0


def test_missing_or_malformed_key_is_refused(app, slots, patients):
    ids = next(iter(slots.values()))
    for key in ("", None, "short", "x" * 65, "bad key with spaces!!"):
        with app.app_context(), pytest.raises(IdempotencyError) as error:
            services.book(ids[:1], patients[0], None, Actor.system(), key)
        assert error.value.status == 422 and "submission key" in str(error.value)
    assert count(app, "SELECT count(*) FROM appointment") == 0


def test_repeated_key_returns_first_result_and_other_data_is_refused(app, slots, patients):
    from portal.idempotency import IdempotencyMismatch
    ids = next(iter(slots.values()))
    key = new_key()
    first = book(app, ids[:1], patients[0], key=key)
    again = book(app, ids[:1], patients[0], key=key)
    assert (again.appointment_id, again.created) == (first.appointment_id, False)
    with pytest.raises(IdempotencyMismatch):
        book(app, ids[5:6], patients[0], key=key)
    assert count(app, "SELECT count(*) FROM appointment") == 1


def test_expired_key_can_be_used_again(make_app, slots, patients):
    short = make_app(IDEMPOTENCY_TTL_S=0)
    ids = next(iter(slots.values()))
    key = new_key()
    book(short, ids[:1], patients[0], key=key)
    second = book(short, ids[4:5], patients[1], key=key)
    assert second.created
    assert count(short, "SELECT count(*) FROM appointment") == 2


def test_reason_too_long_is_refused(app, slots, patients):
    ids = next(iter(slots.values()))
    with pytest.raises(DomainError, match="too long"):
        book(app, ids[:1], patients[0], reason="x" * 501)


def test_status_life_cycle_and_illegal_change(app, staff, slots, patients):
    ids = next(iter(slots.values()))
    appointment = book(app, ids[:1], patients[0]).appointment_id
    call(app, services.change_status, appointment, "confirmed", Actor(staff["reception"], "reception"))
    call(app, services.change_status, appointment, "checked_in", Actor(staff["nurse"], "nurse"))
    with pytest.raises(DomainError) as illegal:
        call(app, services.change_status, appointment, "confirmed", Actor(staff["reception"], "reception"))
    assert illegal.value.status == 409 and "checked in cannot be marked confirmed" in illegal.value.message
    with pytest.raises(DomainError) as wrong_role:
        call(app, services.change_status, appointment, "in_consultation", Actor(staff["nurse"], "nurse"))
    assert wrong_role.value.status == 403
    call(app, services.change_status, appointment, "in_consultation", Actor(staff["doctor"], "doctor"))
    call(app, services.change_status, appointment, "completed", Actor(staff["doctor"], "doctor"))
    with pytest.raises(DomainError, match="cannot be cancelled"):
        call(app, services.cancel, appointment, "clinic", "late", Actor(staff["reception"], "reception"))
    history = count(app, "SELECT count(*) FROM appointment_event WHERE appointment_id = :a "
                         "AND user_id IS NOT NULL", a=appointment)
    assert history == 4  # the booking itself had no user here; four changes did
    assert count(app, "SELECT count(*) FROM appointment_event WHERE appointment_id = :a", a=appointment) == 5
    assert_invariants(app)


def test_other_doctor_cannot_start_consultation(app, staff, doctors, slots, patients):
    second_doctor_slots = slots[doctors[1]]
    appointment = book(app, second_doctor_slots[:1], patients[0]).appointment_id
    call(app, services.change_status, appointment, "checked_in", Actor(staff["reception"], "reception"))
    with pytest.raises(DomainError, match="another doctor"):
        call(app, services.change_status, appointment, "in_consultation", Actor(staff["doctor"], "doctor"))


def test_cancel_needs_reason_and_who(app, staff, slots, patients):
    ids = next(iter(slots.values()))
    appointment = book(app, ids[:1], patients[0]).appointment_id
    with pytest.raises(DomainError, match="reason"):
        call(app, services.cancel, appointment, "patient", "  ", Actor(staff["reception"], "reception"))
    with pytest.raises(DomainError, match="who cancelled"):
        call(app, services.cancel, appointment, "someone", "x", Actor(staff["reception"], "reception"))
    assert count(app, "SELECT count(*) FROM appointment WHERE status = 'booked'") == 1


def test_consultation_request_review(app, staff, doctors, slots, patients):
    ids = slots[doctors[0]]
    first = book(app, ids[:1], patients[0], pending_review=True).appointment_id
    second = book(app, ids[1:2], patients[1], pending_review=True).appointment_id
    third = book(app, ids[2:3], patients[2], pending_review=True).appointment_id
    with pytest.raises(DomainError) as not_doctor:
        call(app, services.review, first, "approve", None, Actor(staff["reception"], "reception"))
    assert not_doctor.value.status == 403
    approved = call(app, services.review, first, "approve", None, Actor(staff["doctor"], "doctor"))
    assert (approved.status, approved.review_outcome, approved.reviewed_by_id) == \
        ("booked", "approved", staff["doctor"])
    asked = call(app, services.review, second, "ask_info", "Send the referral letter", Actor(staff["doctor"], "doctor"))
    assert (asked.status, asked.review_outcome) == ("pending_review", "info_requested")
    with pytest.raises(DomainError, match="Enter notes"):
        call(app, services.review, third, "decline", "", Actor(staff["doctor"], "doctor"))
    declined = call(app, services.review, third, "decline", "Not a surgical case", Actor(staff["doctor"], "doctor"))
    assert declined.status == "cancelled" and "Not a surgical case" in declined.cancel_reason
    assert count(app, "SELECT count(*) FROM slot WHERE id = :s AND status = 'open'", s=ids[2]) == 1
    with pytest.raises(DomainError, match="already"):
        call(app, services.review, first, "approve", None, Actor(staff["doctor"], "doctor"))
    assert_invariants(app)


def test_reception_answers_the_doctors_question_and_the_request_goes_back(app, staff, doctors, slots, patients):
    ids = slots[doctors[0]]
    request_id = book(app, ids[:1], patients[0], pending_review=True).appointment_id
    with pytest.raises(DomainError) as not_asked:
        call(app, services.answer_review, request_id, "Letter attached", Actor(staff["reception"], "reception"))
    assert not_asked.value.status == 409
    call(app, services.review, request_id, "ask_info", "Send the referral letter", Actor(staff["doctor"], "doctor"))
    for answer, role, status in (("Letter attached", "doctor", 403), ("Letter attached", "nurse", 403),
                                 ("   ", "reception", 422), ("x" * 501, "reception", 422),
                                 ("bad \x00 byte", "reception", 422)):
        with pytest.raises(DomainError) as refused:
            call(app, services.answer_review, request_id, answer, Actor(staff[role], role))
        assert refused.value.status == status, (answer[:20], role)
    assert count(app, "SELECT review_outcome FROM appointment WHERE id = :a", a=request_id) == "info_requested"

    answered = call(app, services.answer_review, request_id, "Referral letter from Dr Achieng attached",
                    Actor(staff["reception"], "reception"))
    assert (answered.status, answered.review_outcome, answered.review_answer) == \
        ("pending_review", "answered", "Referral letter from Dr Achieng attached")
    with pytest.raises(DomainError) as twice:
        call(app, services.answer_review, request_id, "Again", Actor(staff["reception"], "reception"))
    assert twice.value.status == 409
    assert count(app, "SELECT count(*) FROM appointment_event WHERE appointment_id = :a "
                      "AND action = 'review:answered' AND user_id = :u", a=request_id, u=staff["reception"]) == 1
    # Back with the doctor, who can now decide.
    approved = call(app, services.review, request_id, "approve", None, Actor(staff["doctor"], "doctor"))
    assert (approved.status, approved.review_outcome) == ("booked", "approved")
    assert_invariants(app)


def test_reschedule_moves_everything_or_nothing(app, staff, doctors, slots, patients):
    ids = slots[doctors[0]]
    moving = book(app, ids[0:2], patients[0]).appointment_id
    book(app, ids[5:6], patients[1])
    # Overlapping its own slots is fine (shift by one).
    moved = call(app, services.reschedule, moving, ids[1:3], Actor(staff["reception"], "reception"))
    assert moved.starts_at > moved.ends_at - 2 * (moved.ends_at - moved.starts_at)
    assert count(app, "SELECT count(*) FROM slot WHERE appointment_id = :a", a=moving) == 2
    assert count(app, "SELECT count(*) FROM slot WHERE id = :s AND status = 'open'", s=ids[0]) == 1
    # Onto a taken slot: refused, nothing changed.
    with pytest.raises(SlotTaken):
        call(app, services.reschedule, moving, ids[4:6], Actor(staff["reception"], "reception"))
    held = count(app, "SELECT string_agg(id::text, ',' ORDER BY id) FROM slot WHERE appointment_id = :a", a=moving)
    assert held == f"{ids[1]},{ids[2]}"
    # To another doctor.
    other = call(app, services.reschedule, moving, slots[doctors[1]][7:8], Actor(staff["reception"], "reception"))
    assert other.doctor_id == doctors[1]
    assert_invariants(app)


def test_booking_fills_from_consecutive_helper(app, slots, patients):
    ids = next(iter(slots.values()))
    with app.app_context():
        assert services.consecutive_slot_ids(ids[3], 3) == ids[3:6]
        for bad in (0, 17, 1000, "x"):
            with pytest.raises(DomainError):
                services.consecutive_slot_ids(ids[3], bad)
