"""flask seed: a clinic's worth of patients, doctors, slots and appointments."""
import click
from flask import Flask

from .seeding import SeedError, seed_clinic


def register_seed_command(app: Flask) -> None:
    @app.cli.command("seed")
    @click.option("--patients", type=click.IntRange(0, 2_000_000), default=1000, show_default=True)
    @click.option("--appointments", type=click.IntRange(0, 20_000_000), default=10_000, show_default=True)
    @click.option("--doctors", type=click.IntRange(1, 500), default=40, show_default=True)
    @click.option("--add", is_flag=True, help="Add to a database that already holds clinic data.")
    @click.option("--random-seed", type=int, default=None, help="Repeatable data.")
    def seed_command(patients, appointments, doctors, add, random_seed):
        """Load realistic Kenyan patients, doctors with slots and appointments (COPY)."""
        try:
            report = seed_clinic(patients, appointments, doctors, add=add, seed=random_seed,
                                 say=click.echo)
        except SeedError as error:
            raise click.ClickException(str(error))
        click.echo(f"Loaded {report.patients} patients, {report.doctors} doctors, {report.slots} slots, "
                   f"{report.appointments} appointments in {report.timings['total']:.1f}s.")
