"""The clinic-scale seeder: realistic rows, no double booking, slots consistent, refuses non-empty."""
import re
import uuid

import psycopg
import pytest
from sqlalchemy import select, text

from portal import create_app
from portal.extensions import db
from portal.models import Consultation
from portal.records import queries as record_queries
from portal.seed import DEMO_PASSWORD
from portal.seeding import SeedError, seed_clinic
from tests.helpers import TEST_CONFIG, login, money_summaries_off, with_database


def scalar(sql: str):
    return db.session.scalar(text(sql))


def test_seed_loads_a_consistent_clinic(app):
    with app.app_context():
        report = seed_clinic(3000, 30_000, doctors=10, seed=1, say=lambda _: None, signed=0, payments=0)
        assert (report.patients, report.doctors, report.appointments) == (3000, 10, 30_000)
        assert scalar("SELECT count(*) FROM patient") == 3000
        assert scalar("SELECT count(*) FROM appointment") == 30_000
        assert scalar("SELECT count(*) FROM doctor") == 10
        assert scalar("SELECT count(DISTINCT doctor_id) FROM availability") == 10
        # Kenyan phones in E.164, file numbers from the sequence, all distinct.
        assert scalar(r"SELECT count(*) FROM patient WHERE phone !~ '^\+254(7|1)[0-9]{8}$'") == 0
        assert scalar("SELECT count(DISTINCT file_number) FROM patient") == 3000
        # No doctor and no patient is in two places at once.
        assert scalar("""SELECT count(*) FROM (SELECT doctor_id, starts_at FROM appointment
                         WHERE status <> 'cancelled' GROUP BY 1, 2 HAVING count(*) > 1) d""") == 0
        assert scalar("""SELECT count(*) FROM appointment a JOIN appointment b
                         ON a.patient_id = b.patient_id AND a.id < b.id
                         AND a.status <> 'cancelled' AND b.status <> 'cancelled'
                         AND a.starts_at < b.ends_at AND b.starts_at < a.ends_at""") == 0
        # Past and future with realistic statuses.
        assert scalar("SELECT count(*) FROM appointment WHERE starts_at < now() AND status IN "
                      "('booked', 'confirmed', 'pending_review')") == 0
        assert scalar("SELECT count(*) FROM appointment WHERE starts_at > now() AND status IN "
                      "('completed', 'no_show')") == 0
        statuses = set(db.session.scalars(text("SELECT DISTINCT status FROM appointment")))
        assert {"completed", "no_show", "cancelled", "booked", "confirmed"} <= statuses
        # Every live future appointment holds exactly its slot, and booked slots point back.
        assert scalar("""SELECT count(*) FROM appointment a WHERE a.starts_at > now()
                         AND a.status <> 'cancelled' AND NOT EXISTS (SELECT 1 FROM slot s
                         WHERE s.appointment_id = a.id AND s.status = 'booked'
                         AND s.doctor_id = a.doctor_id AND s.starts_at = a.starts_at)""") == 0
        assert scalar("""SELECT count(*) FROM slot s JOIN appointment a ON a.id = s.appointment_id
                         WHERE a.status = 'cancelled'""") == 0
        assert scalar("SELECT count(*) FROM slot WHERE status = 'booked'") == scalar(
            "SELECT count(*) FROM appointment WHERE starts_at > now() AND status <> 'cancelled'")


def test_large_load_rebuilds_indexes_and_foreign_keys(app):
    with app.app_context():
        before = scalar("SELECT count(*) FROM pg_indexes WHERE tablename IN ('patient', 'appointment')")
        fks = scalar("SELECT count(*) FROM pg_constraint WHERE contype = 'f' "
                     "AND conrelid IN ('patient'::regclass, 'appointment'::regclass)")
        seed_clinic(50_000, 50_000, doctors=4, seed=2, say=lambda _: None, signed=0, payments=0)
        assert scalar("SELECT count(*) FROM pg_indexes WHERE tablename IN ('patient', 'appointment')") == before
        assert scalar("SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND conrelid IN "
                      "('patient'::regclass, 'appointment'::regclass)") == fks
        assert scalar("SELECT count(*) FROM pg_index WHERE NOT indisvalid") == 0


def test_refuses_a_database_with_clinic_data_unless_adding(app):
    with app.app_context():
        seed_clinic(100, 200, doctors=2, seed=3, say=lambda _: None)
        with pytest.raises(SeedError, match="--add"):
            seed_clinic(100, 200, doctors=2, say=lambda _: None)
        assert scalar("SELECT count(*) FROM patient") == 100
        seed_clinic(50, 100, doctors=2, add=True, seed=4, say=lambda _: None)
        assert scalar("SELECT count(*) FROM patient") == 150
        assert scalar("SELECT count(*) FROM appointment") == 300


def test_seed_command(app):
    runner = app.test_cli_runner()
    result = runner.invoke(app.cli, ["seed", "--patients", "200", "--appointments", "500", "--doctors", "3",
                                     "--no-records", "--no-payments", "--random-seed", "5"])
    assert result.exit_code == 0, result.output
    assert "Loaded 200 patients, 3 doctors" in result.output
    assert "Signed" not in result.output
    more = runner.invoke(app.cli, ["seed", "--add", "--patients", "0", "--appointments", "0", "--doctors", "0",
                                   "--signed", "40", "--payments", "300", "--random-seed", "5"])
    assert more.exit_code == 0, more.output
    assert "Signed 40 consultations" in more.output
    same_seed = runner.invoke(app.cli, ["seed", "--add", "--patients", "0", "--appointments", "0", "--doctors", "0",
                                        "--signed", "10", "--payments", "0", "--random-seed", "5"])
    assert same_seed.exit_code == 0, same_seed.output  # its nurses' usernames differ from the last load's
    with app.app_context():
        assert scalar("SELECT count(*) FROM doctor") == 3 and scalar("SELECT count(*) FROM patient") == 200
        assert scalar("SELECT count(*) FROM bill") == scalar(
            "SELECT count(*) FROM appointment WHERE status = 'completed' AND ends_at <= now()")
    again = runner.invoke(app.cli, ["seed", "--patients", "10", "--appointments", "10"])
    assert again.exit_code != 0 and "--add" in again.output
    bad = runner.invoke(app.cli, ["seed", "--patients", "-5"])
    assert bad.exit_code != 0


def test_seeded_visits_have_signed_notes_that_verify_and_bills_that_add_up(app, database_url):
    with app.app_context():
        report = seed_clinic(400, 4000, doctors=4, seed=5, say=lambda _: None, signed=600, payments=5000)
        visits = report.visits
        assert visits.consultations == 600 == scalar("SELECT count(*) FROM consultation WHERE status = 'signed'")
        completed = scalar("SELECT count(*) FROM appointment WHERE status = 'completed' AND ends_at <= now()")
        assert visits.bills == completed == scalar("SELECT count(*) FROM bill")
        assert 4000 <= visits.payments <= 6000, visits.payments
        # Every signed note is on a completed visit, with a primary ICD-10 diagnosis, a prescription,
        # a vitals reading and its visit's services on the bill, charged from the consultation.
        assert scalar("""SELECT count(*) FROM consultation c JOIN appointment a ON a.id = c.appointment_id
                         WHERE a.status <> 'completed' OR c.signed_at < a.starts_at OR c.signed_at > now()
                         OR c.signed_by_id IS NULL OR c.patient_id <> a.patient_id""") == 0
        for part in ("diagnosis d WHERE d.is_primary AND d.code IN (SELECT code FROM icd10_code)",
                     "prescription d WHERE true", "consultation_service d WHERE true"):
            table, condition = part.split(" WHERE ")
            assert scalar(f"SELECT count(*) FROM consultation c WHERE NOT EXISTS (SELECT 1 FROM {table} "
                          f"WHERE d.consultation_id = c.id AND {condition})") == 0
        assert scalar("SELECT count(*) FROM consultation c WHERE NOT EXISTS (SELECT 1 FROM vital_sign v "
                      "WHERE v.appointment_id = c.appointment_id)") == 0
        assert scalar("""SELECT count(*) FROM consultation_service s JOIN consultation c ON c.id = s.consultation_id
                         WHERE NOT EXISTS (SELECT 1 FROM bill b JOIN bill_line l ON l.bill_id = b.id
                         WHERE b.appointment_id = c.appointment_id AND l.source = 'consultation'
                         AND l.source_id = c.id AND l.service_id = s.service_id AND l.quantity = s.quantity)""") == 0
        # Each signed note's SHA-256 is what records computes over what is stored.
        for consultation in db.session.scalars(select(Consultation).order_by(Consultation.id).limit(50)):
            assert record_queries.note_view(db.session, consultation).hash_ok is True
        # Money: paid + balance = total, the bill's kept balance and status are the view's, nothing overpaid.
        assert scalar("""SELECT count(*) FROM bill b JOIN bill_balance v ON v.bill_id = b.id
                         WHERE v.paid_cents + v.balance_cents <> v.total_cents OR v.paid_cents > v.total_cents
                         OR v.paid_cents < 0 OR b.balance_cents <> v.balance_cents""") == 0
        # The dashboard's and the cash-up's summaries hold the load's money (its triggers were off).
        assert money_summaries_off(app) == {}
        statuses = set(db.session.scalars(text("SELECT DISTINCT status FROM bill")))
        assert {"paid", "open", "partly_paid"} <= statuses
        methods = set(db.session.scalars(text("SELECT DISTINCT method FROM payment")))
        assert {"cash", "card", "mpesa", "insurance"} <= methods
        assert scalar("SELECT count(DISTINCT mpesa_code) FROM payment") == scalar(
            "SELECT count(*) FROM payment WHERE method = 'mpesa'")
        assert scalar("SELECT count(*) FROM payment_reversal") > 0
        assert scalar("SELECT count(*) FROM payment p JOIN cash_shift s ON s.id = p.shift_id "
                      "WHERE p.cashier_id <> s.cashier_id") == 0
        # The next receipt of the year follows the seeded ones.
        year, last = db.session.execute(text(
            "SELECT split_part(receipt_number, '-', 2)::int, max(split_part(receipt_number, '-', 3)::int) "
            "FROM payment GROUP BY 1 ORDER BY 1 DESC LIMIT 1")).one()
        assert db.session.scalar(text("SELECT kliniki_receipt_number(:y)"), {"y": year}) == f"R-{year}-{last + 1:06d}"
        db.session.rollback()
        # The triggers are back on: a signed note still refuses a new part, a bill an overpayment.
        consultation_id = scalar("SELECT min(id) FROM consultation")
        paid_bill = scalar("SELECT min(id) FROM bill WHERE status = 'paid'")
        signed_patient = scalar(f"SELECT patient_id FROM consultation WHERE id = {consultation_id}")
        appointment_id = scalar(f"SELECT appointment_id FROM consultation WHERE id = {consultation_id}")
        bill_id = scalar(f"SELECT id FROM bill WHERE appointment_id = {appointment_id}")
        doctor = scalar(f"""SELECT u.username FROM consultation c JOIN doctor d ON d.id = c.doctor_id
                            JOIN staff_user u ON u.id = d.user_id WHERE c.id = {consultation_id}""")
        desk = scalar("SELECT username FROM staff_user WHERE role = 'reception' ORDER BY id LIMIT 1")
    with psycopg.connect(database_url) as conn:
        with pytest.raises(psycopg.errors.IntegrityConstraintViolation):
            conn.execute("INSERT INTO diagnosis (consultation_id, text) VALUES (%s, 'late')", (consultation_id,))
        conn.rollback()
        with pytest.raises(psycopg.errors.CheckViolation):
            conn.execute("INSERT INTO payment (bill_id, method, amount_cents, receipt_number) "
                         "VALUES (%s, 'card', 100, 'R-2000-999999')", (paid_bill,))
    # The app's pages work on seeded data: the doctor's signed note (content intact), the
    # patient's timeline, the bill and the cash-up at the desk.
    doctor_client = app.test_client()
    assert login(doctor_client, doctor, DEMO_PASSWORD).status_code == 302
    page = doctor_client.get(f"/records/appointments/{appointment_id}")
    assert page.status_code == 200 and "Content check: intact" in page.get_data(as_text=True)
    assert doctor_client.get(f"/records/patients/{signed_patient}/timeline").status_code == 200
    desk_client = app.test_client()
    assert login(desk_client, desk, DEMO_PASSWORD).status_code == 302
    bill_page = desk_client.get(f"/payments/bills/{bill_id}")
    assert bill_page.status_code == 200 and re.search(r"R-\d{4}-\d{6}", bill_page.get_data(as_text=True))
    assert desk_client.get("/payments/shifts").status_code == 200
    assert desk_client.get("/payments/report").status_code == 200


def test_seed_on_an_unmigrated_database_names_the_command_that_fixes_it(postgres_server):
    name = f"kliniki_unmigrated_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(with_database(postgres_server, "postgres"), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        app = create_app({**TEST_CONFIG, "SQLALCHEMY_DATABASE_URI": with_database(postgres_server, name)})
        result = app.test_cli_runner().invoke(app.cli, ["seed", "--patients", "10", "--appointments", "10"])
        assert result.exit_code == 1 and "flask --app wsgi db upgrade" in result.output, result.output
        with app.app_context():
            db.engine.dispose()
    finally:
        with psycopg.connect(with_database(postgres_server, "postgres"), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
