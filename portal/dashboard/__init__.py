"""The admin's dashboard and reports: figures aggregated by PostgreSQL, charts, CSV exports."""
from flask import Blueprint

bp = Blueprint("dashboard", __name__)

from . import views  # noqa: E402,F401
