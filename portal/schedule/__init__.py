"""Schedule: see views.py and services.py."""
from flask import Blueprint

bp = Blueprint("schedule", __name__)

from . import views  # noqa: E402,F401
