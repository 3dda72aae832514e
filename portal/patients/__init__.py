"""Patients: see views.py and services.py."""
from flask import Blueprint

bp = Blueprint("patients", __name__)

from . import views  # noqa: E402,F401
