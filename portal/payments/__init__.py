"""Payments: the price list, a bill per visit, payments, receipts, refunds and voids, the cash-up, M-Pesa."""
from flask import Blueprint

bp = Blueprint("payments", __name__)

from . import views  # noqa: E402,F401  (routes register on bp)
