"""flask slots generate / flask slots purge-keys."""
import click
from flask import Flask
from flask.cli import AppGroup

from ..db import transaction
from ..idempotency import purge_expired
from .availability import generate_slots

slots_cli = AppGroup("slots", help="Bookable slots and booking keys.")


@slots_cli.command("generate")
@click.option("--doctor", "doctor_id", type=int, default=None, help="Only this doctor (id).")
@click.option("--weeks", type=click.IntRange(1, 52), default=None, help="Window ahead (SLOT_WINDOW_WEEKS).")
def generate_command(doctor_id, weeks):
    """Expand weekly availability and time off into slots (idempotent; booked slots untouched)."""
    report = generate_slots(doctor_id, weeks)
    click.echo(f"slots: {report.created} added, {report.removed} removed, {report.blocked} blocked, "
               f"{report.reopened} reopened")
    if report.conflicts:
        click.echo(f"{len(report.conflicts)} booked appointment(s) must be rescheduled:")
        for row in report.conflicts:
            click.echo(f"  #{row.id} {row.starts_at:%Y-%m-%d %H:%M %Z} {row.doctor}: {row.patient} "
                       f"({row.status}; {row.reason})")


@slots_cli.command("purge-keys")
def purge_keys_command():
    """Delete expired idempotency keys."""
    with transaction() as session:
        gone = purge_expired(session)
    click.echo(f"{gone} expired key(s) deleted")


def register(app: Flask) -> None:
    app.cli.add_command(slots_cli)
