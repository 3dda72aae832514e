"""The clinic-scale seeder: realistic rows, no double booking, slots consistent, refuses non-empty."""
import pytest
from sqlalchemy import text

from portal.extensions import db
from portal.seeding import SeedError, seed_clinic


def scalar(sql: str):
    return db.session.scalar(text(sql))


def test_seed_loads_a_consistent_clinic(app):
    with app.app_context():
        report = seed_clinic(3000, 30_000, doctors=10, seed=1, say=lambda _: None)
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
        seed_clinic(50_000, 50_000, doctors=4, seed=2, say=lambda _: None)
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
    result = runner.invoke(app.cli, ["seed", "--patients", "200", "--appointments", "500", "--doctors", "3"])
    assert result.exit_code == 0, result.output
    assert "Loaded 200 patients, 3 doctors" in result.output
    again = runner.invoke(app.cli, ["seed", "--patients", "10", "--appointments", "10"])
    assert again.exit_code != 0 and "--add" in again.output
    bad = runner.invoke(app.cli, ["seed", "--patients", "-5"])
    assert bad.exit_code != 0
