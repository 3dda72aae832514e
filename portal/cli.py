"""flask commands: create-user, seed-demo."""
import click
from flask import Flask

from .auth.services import StaffError, create_staff
from .models.staff import ROLES
from .seed import DEMO_PASSWORD, SeedRefused, seed_demo


def register_cli(app: Flask) -> None:
    from .patients.cli import register_seed_command
    register_seed_command(app)
    from .schedule.cli import register as register_schedule_commands
    register_schedule_commands(app)

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
            raise click.ClickException("; ".join(f"{k}: {v}" for k, v in error.errors.items()))
        click.echo(f"Created {user.username} ({user.role}).")

    @app.cli.command("seed-demo")
    @click.option("--force", is_flag=True, help="Add demo data even if the database holds real data.")
    def seed_demo_command(force):
        """Load demo staff for each role, doctors and patients."""
        try:
            logins = seed_demo(force=force)
        except SeedRefused as error:
            raise click.ClickException(str(error))
        click.echo(f"Demo logins (password: {DEMO_PASSWORD}):")
        for username, role in logins:
            click.echo(f"  {username:<12} {role}")
