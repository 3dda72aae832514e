"""flask commands: create-user, seed-demo, seed (a clinic's worth of data), audit verify, and each area's own."""
import click
from flask import Flask

from .audit import verify_chain
from .auth.services import StaffError, create_staff
from .models.staff import ROLES
from .seed import DEMO_PASSWORD, SeedRefused, seed_demo
from .seeding import SeedError, seed_clinic


def register_cli(app: Flask) -> None:
    from .schedule.cli import register as register_schedule_commands
    register_schedule_commands(app)
    register_seed_command(app)
    register_audit_commands(app)

    @app.cli.command("create-user")
    @click.argument("username")
    @click.option("--full-name", prompt=True)
    @click.option("--role", type=click.Choice(ROLES), prompt=True)
    @click.password_option()
    def create_user(username, full_name, role, password):
        """Add a staff member (asks for the password)."""
        try:
            user = create_staff(username, full_name, role, password)
        except StaffError as error:
            raise click.ClickException("; ".join(f"{k}: {v}" for k, v in error.errors.items())) from None
        click.echo(f"Created {user.username} ({user.role}).")

    @app.cli.command("seed-demo")
    @click.option("--force", is_flag=True, help="Add demo data even if the database holds real data.")
    def seed_demo_command(force):
        """Load demo staff for each role, doctors and patients."""
        try:
            logins = seed_demo(force=force)
        except SeedRefused as error:
            raise click.ClickException(str(error)) from None
        click.echo(f"Demo logins (password: {DEMO_PASSWORD}):")
        for username, role in logins:
            click.echo(f"  {username:<12} {role}")


def register_seed_command(app: Flask) -> None:
    @app.cli.command("seed")
    @click.option("--patients", type=click.IntRange(0, 2_000_000), default=1000, show_default=True)
    @click.option("--appointments", type=click.IntRange(0, 20_000_000), default=10_000, show_default=True)
    @click.option("--doctors", type=click.IntRange(0, 500), default=40, show_default=True,
                  help="0 only with --add (to add notes and bills to the visits already there).")
    @click.option("--signed", type=click.IntRange(0, 20_000_000), default=None,
                  help="Signed consultations on past completed visits [default: 30% of --appointments].")
    @click.option("--payments", type=click.IntRange(0, 50_000_000), default=None,
                  help="About this many payments on a bill for every unbilled past completed visit; "
                       "0: no bills [default: 1.5 x --appointments].")
    @click.option("--no-records", is_flag=True, help="No signed consultations (same as --signed 0).")
    @click.option("--no-payments", is_flag=True, help="No bills or payments (same as --payments 0).")
    @click.option("--add", is_flag=True, help="Add to a database that already holds clinic data.")
    @click.option("--random-seed", type=int, default=None, help="Repeatable data.")
    def seed_command(patients, appointments, doctors, signed, payments, no_records, no_payments, add,
                     random_seed):
        """Load realistic Kenyan patients, doctors with slots, appointments, signed notes and bills (COPY)."""
        try:
            report = seed_clinic(patients, appointments, doctors, add=add, seed=random_seed, say=click.echo,
                                 signed=0 if no_records else signed, payments=0 if no_payments else payments)
        except SeedError as error:
            raise click.ClickException(str(error)) from error
        click.echo(f"Loaded {report.patients} patients, {report.doctors} doctors, {report.slots} slots, "
                   f"{report.appointments} appointments in {report.timings['total']:.1f}s.")
        if report.visits is not None:
            visits = report.visits
            click.echo(f"Signed {visits.consultations} consultations ({visits.diagnoses} diagnoses, "
                       f"{visits.prescriptions} prescriptions, {visits.vitals} vitals, {visits.addenda} addenda); "
                       f"{visits.bills} bills, {visits.bill_lines} lines, {visits.payments} payments, "
                       f"{visits.reversals} refunds and voids, {visits.shifts} shifts.")


def register_audit_commands(app: Flask) -> None:
    @app.cli.group("audit")
    def audit_group():
        """The audit trail."""

    @audit_group.command("verify")
    @click.option("--batch", type=click.IntRange(1, 100_000), default=2000, show_default=True,
                  help="Events read per statement.")
    def verify_command(batch):
        """Check the audit trail's hash chain; exits 1 naming the first broken event."""
        report = verify_chain(batch)
        if not report.ok:
            click.echo(f"audit chain BROKEN at event {report.broken_id}: {report.problem} "
                       f"({report.checked} events before it are intact)", err=True)
            raise SystemExit(1)
        click.echo(f"audit chain OK: {report.checked} events")
