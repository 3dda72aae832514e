"""Payments forms: each whole form checked into clean values, or a BadInput naming its field."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping

from .. import validation
from ..domain import BadInput
from ..models.billing import SERVICE_CATEGORIES
from ..models.payments import METHODS
from ..money import parse_cents

METHOD_LABELS = {"cash": "Cash", "card": "Card", "mpesa": "M-Pesa", "insurance": "Insurance",
                 "bank": "Bank transfer"}
MPESA_CODE = re.compile(r"^[A-Z0-9]{10}$")
REASON_MAX = 500
REFERENCE_MAX = 64


@dataclass(frozen=True)
class PaymentInput:
    """A payment as typed at the desk (amounts in cents)."""

    method: str
    amount_cents: int
    tendered_cents: int | None = None
    reference: str | None = None
    mpesa_code: str | None = None
    insurer: str | None = None
    member_number: str | None = None
    preauth_number: str | None = None

    def fingerprint(self) -> dict:
        """What the idempotency key's hash covers."""
        return self.__dict__.copy()


def mpesa_code(raw: object, field: str = "mpesa_code") -> str:
    """An M-Pesa transaction code: ten capital letters and digits, like QGH7ABC123."""
    value = (validation.text(raw, "M-Pesa code", 32, required=True, field=field) or "").upper()
    if not MPESA_CODE.fullmatch(value):
        raise BadInput("An M-Pesa code is 10 letters and digits, like QGH7ABC123.", field=field)
    return value


def parse_payment(form: Mapping[str, str]) -> PaymentInput:
    """The payment form: method, amount and the method's own details."""
    method = validation.choice(form.get("method"), "payment method", METHODS, field="method")
    assert method is not None
    amount = parse_cents(form.get("amount"), "amount", field="amount")
    assert amount is not None
    if amount <= 0:
        raise BadInput("The amount must be more than zero.", field="amount")
    details: dict = {}
    if method == "cash":
        details["tendered_cents"] = parse_cents(form.get("tendered"), "amount tendered", field="tendered",
                                                required=False)
    elif method == "card":
        details["reference"] = validation.text(form.get("reference"), "terminal reference", REFERENCE_MAX,
                                               required=True, field="reference")
    elif method == "mpesa":
        details["mpesa_code"] = mpesa_code(form.get("mpesa_code"))
    elif method == "insurance":
        details["insurer"] = validation.text(form.get("insurer"), "insurer", 120, required=True, field="insurer")
        details["member_number"] = validation.text(form.get("member_number"), "member number", 64,
                                                   required=True, field="member_number")
        details["preauth_number"] = validation.text(form.get("preauth_number"), "pre-authorisation number",
                                                    64, field="preauth_number")
    else:
        details["reference"] = validation.text(form.get("reference"), "bank reference", REFERENCE_MAX,
                                               required=True, field="reference")
    return PaymentInput(method=method, amount_cents=amount, **details)


def reason(raw: object, field: str = "reason") -> str:
    """A required reason (discounts, refunds, voids, a cash difference)."""
    value = validation.text(raw, "reason", REASON_MAX, required=True, multiline=True, field=field)
    assert value is not None
    return value


def quantity(raw: object) -> int:
    """How many of a service: 1 to 1000, default 1."""
    value = validation.integer(raw, "quantity", 1, 1000, field="quantity")
    return 1 if value is None else value


@dataclass(frozen=True)
class ServiceInput:
    """A price list entry as typed by admin."""

    code: str
    name: str
    category: str
    price_cents: int
    min_cents: int | None
    max_cents: int | None
    is_active: bool


def parse_service(form: Mapping[str, str]) -> ServiceInput:
    """The price list form; min and max only for a variable-priced service."""
    code = validation.text(form.get("code"), "code", 32, required=True, field="code")
    assert code is not None
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", code):
        raise BadInput("A code is letters, digits, dots, dashes or underscores.", field="code")
    name = validation.text(form.get("name"), "name", 200, required=True, field="name")
    category = validation.choice(form.get("category"), "category", SERVICE_CATEGORIES, field="category")
    price = parse_cents(form.get("price"), "price", field="price")
    low = parse_cents(form.get("min_price"), "lowest price", field="min_price", required=False)
    high = parse_cents(form.get("max_price"), "highest price", field="max_price", required=False)
    assert name is not None and category is not None and price is not None
    if low is not None and low > price:
        raise BadInput("The lowest price cannot be above the list price.", field="min_price")
    if high is not None and high < price:
        raise BadInput("The highest price cannot be below the list price.", field="max_price")
    return ServiceInput(code.upper(), name, category, price, low, high, validation.flag(form.get("is_active")))


def counted_amounts(form: Mapping[str, str]) -> dict[str, int]:
    """Counted money per method at a shift's close (blank is zero)."""
    counted = {}
    for method in METHODS:
        value = parse_cents(form.get(f"counted_{method}"), f"counted {METHOD_LABELS[method]}",
                            field=f"counted_{method}", required=False)
        counted[method] = value or 0
    return counted
