"""Payments: the price list, a bill per visit, payments, receipts, refunds and voids, the cash-up, M-Pesa."""
from flask import Blueprint

bp = Blueprint("payments", __name__)

from ..records.signals import consultation_signed  # noqa: E402
from . import views  # noqa: E402,F401  (routes register on bp)
from .services import bill_signed_visit  # noqa: E402

consultation_signed.connect(bill_signed_visit)  # a signed visit's services go on its bill
