"""Records: vitals, the consultation note, diagnoses, prescriptions, addenda, allergies (see services.py)."""
from flask import Blueprint

bp = Blueprint("records", __name__, cli_group="records")

from . import cli, views  # noqa: E402,F401
