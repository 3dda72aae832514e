"""Every dashboard figure against the hand-counted clinic day in conftest.py."""
from __future__ import annotations

from datetime import date, timedelta

from portal.dashboard import queries
from portal.dashboard.queries import DateRange
from tests.dashboard.conftest import DAY

NEXT = DAY + timedelta(days=1)


def test_todays_appointments_by_status(app, clinic):
    with app.app_context():
        counts = queries.by_status(DAY)
    assert counts == {"completed": 2, "in_consultation": 1, "no_show": 1, "cancelled": 2, "checked_in": 1,
                      "confirmed": 1, "booked": 1}


def test_todays_appointments_by_doctor(app, clinic):
    with app.app_context():
        rows = [tuple(row) for row in queries.by_doctor(DAY)]
    one, two = clinic.doctors
    # doctor, name, all, expected, in clinic, completed, no show, cancelled
    assert rows == [(one, "Dr. Test One", 4, 0, 1, 1, 1, 1), (two, "Dr. Test Two", 5, 2, 1, 1, 0, 1)]


def test_waiting_room_times_from_check_in_to_consultation(app, clinic):
    with app.app_context():
        waits = queries.waits(DateRange(DAY, DAY))
    # A1 waited 12, A2 40, A9 3 minutes; A5 checked in at 09:00 and still waits at 09:30.
    assert (waits.seen, waits.mean, waits.median, waits.longest) == (3, 18.3, 12.0, 40.0)
    assert waits.p90 == 34.4  # linear: 12 + 0.8 * (40 - 12)
    assert (waits.waiting_now, waits.longest_waiting_now) == (1, 30.0)
    assert waits.bands == [("0–5 min", 1), ("5–15 min", 1), ("15–30 min", 0), ("30–60 min", 1), ("60+ min", 0)]


def test_waits_of_another_range_are_empty(app, clinic):
    with app.app_context():
        waits = queries.waits(DateRange(NEXT, NEXT))
    assert (waits.seen, waits.median, waits.waiting_now, waits.longest_waiting_now) == (0, None, 0, None)


def test_cancellation_and_no_show_rates(app, clinic):
    with app.app_context():
        day = queries.rates(DateRange(DAY, DAY))
        both = queries.rates(DateRange(DAY, NEXT))
    total = day.total
    assert (total.appointments, total.cancelled, total.cancelled_by_patient, total.cancelled_by_clinic) == (9, 2, 1, 1)
    # outcomes: A1, A9 completed, A2 in consultation, A5 checked in, A3 no show
    assert (total.outcomes, total.no_show) == (5, 1)
    assert (float(total.cancellation_rate), float(total.no_show_rate)) == (22.2, 20.0)
    assert [(r.bucket, r.appointments) for r in day.rows] == [(DAY, 9)]
    assert [(r.bucket, r.appointments, r.cancelled) for r in both.rows] == [(DAY, 9, 2), (NEXT, 1, 1)]
    assert (both.total.appointments, float(both.total.cancellation_rate)) == (10, 30.0)
    assert both.rows[1].no_show_rate is None  # nothing reached an outcome that day: no rate, not 0


def test_rates_of_an_empty_range_are_none_not_zero(app, clinic):
    with app.app_context():
        series = queries.rates(DateRange(date(2031, 1, 1), date(2031, 1, 2)))
    assert series.rows == []
    assert (series.total.appointments, series.total.cancellation_rate, series.total.no_show_rate) == (0, None, None)


def test_rates_of_a_long_range_are_by_week(app, clinic):
    with app.app_context():
        series = queries.rates(DateRange(DAY - timedelta(days=70), NEXT))
    monday = DAY - timedelta(days=DAY.weekday())
    assert series.unit == "week"
    assert [(r.bucket, r.appointments) for r in series.rows] == [(monday, 10)]


def test_doctor_utilisation_booked_of_offered_slots(app, clinic):
    with app.app_context():
        doctors, total = queries.utilisation(DateRange(DAY, DAY))
    one, two = clinic.doctors
    # Dr. One: 8 offered, A1-A3 hold theirs (A4's was freed), 1 blocked; Dr. Two: A5, A7-A9 hold theirs.
    assert [(r.doctor_id, r.available, r.booked, r.blocked, float(r.utilisation)) for r in doctors] == \
        [(one, 8, 3, 1, 37.5), (two, 8, 4, 0, 50.0)]
    assert (total.available, total.booked, total.blocked, float(total.utilisation)) == (16, 7, 1, 43.8)


def test_utilisation_of_the_next_day(app, clinic):
    with app.app_context():
        doctors, total = queries.utilisation(DateRange(NEXT, NEXT))
    assert [(r.available, r.booked) for r in doctors] == [(3, 0)]  # B1's slot was freed by its cancel
    assert float(total.utilisation) == 0.0
    with app.app_context():
        doctors, total = queries.utilisation(DateRange(date(2031, 1, 1), date(2031, 1, 2)))
    assert doctors == [] and (total.available, total.utilisation) == (0, None)


def test_new_patients_by_clinic_local_day(app, clinic):
    with app.app_context():
        day = queries.new_patients(DateRange(DAY, DAY))
        three = queries.new_patients(DateRange(DAY - timedelta(days=1), NEXT))
        none = queries.new_patients(DateRange(date(2031, 1, 1), date(2031, 1, 2)))
    assert day.total.patients == 4  # three at 10:00 and one at 00:00 exactly
    assert [(r.bucket, r.patients) for r in three.rows] == [(DAY - timedelta(days=1), 1), (DAY, 4), (NEXT, 2)]
    assert three.total.patients == 7
    assert none.rows == [] and none.total.patients == 0


def test_each_figure_is_one_statement(app, clinic, monkeypatch):
    sent = []
    real_fetch = queries.fetch

    def counted(session, statement, params):
        sent.append(statement)
        return real_fetch(session, statement, params)

    monkeypatch.setattr(queries, "fetch", counted)  # the real statement still runs, only counted
    span = DateRange(DAY, DAY)
    loads = {"by status": lambda: queries.by_status(DAY), "by doctor": lambda: queries.by_doctor(DAY),
             "waits": lambda: queries.waits(span), "rates": lambda: queries.rates(span),
             "utilisation": lambda: queries.utilisation(span), "new patients": lambda: queries.new_patients(span)}
    with app.app_context():
        for name, load in loads.items():
            sent.clear()
            load()
            assert sent == [queries.STATEMENTS[name]], name
