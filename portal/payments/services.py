"""Payments rules and writes: bills, lines, discounts, payments, refunds and voids, shifts, M-Pesa.

Every public function owns one transaction() (those taking a `session` run inside the caller's).
A bill is locked FOR UPDATE before anything about its money is decided; the totals come from
the bill_balance view; the database's triggers are the backstop for every rule about money.
"""
from __future__ import annotations

import json
import re
from typing import Any, Iterable

from flask import current_app
from sqlalchemy import exc
from sqlalchemy.orm import Session

from .. import clinic_time, idempotency
from ..actor import Actor
from ..audit import record_audit
from ..auth.roles import ADMINS, DESK
from ..db import fetch, transaction
from ..domain import BadInput, Conflict, DomainError, Forbidden, NotFound
from ..models.payments import METHODS
from ..money import format_cents, parse_cents
from . import queries
from .forms import MPESA_CODE, PaymentInput, ServiceInput

VOIDERS = ADMINS
REFUNDERS = DESK
LINE_SOURCES = ("desk", "consultation", "mpesa", "import")

# Constraint (or trigger CONSTRAINT) names the user gets a sentence for instead of a 500.
REFUSALS = {
    "uq_payment_mpesa_code": (Conflict, "That M-Pesa code is already on a payment.", "mpesa_code"),
    "bill_paid_within_total": (Conflict, "That would pay the bill above its total. Reload the bill.", "amount"),
    "bill_total_not_negative": (Conflict, "Discounts cannot exceed the charges.", "amount"),
    "discount_within_line": (Conflict, "A line cannot be discounted below zero.", "amount"),
    "reversal_within_payment": (Conflict, "That is more than is left of the payment.", "amount"),
    "uq_payment_reversal_void": (Conflict, "That payment is already void.", None),
    "uq_service_code_lower": (Conflict, "Another service already has that code.", "code"),
    "uq_cash_shift_open_cashier": (Conflict, "You already have an open shift.", None),
    "uq_bill_line_void_line": (Conflict, "That charge is already void.", "line_id"),
}


def _refused(error: exc.DBAPIError) -> Exception:
    """The domain error for a constraint the database enforced, or the error itself."""
    diag = getattr(getattr(error, "orig", None), "diag", None)
    name = getattr(diag, "constraint_name", None)
    if name in REFUSALS:
        kind, message, field = REFUSALS[name]
        return kind(message, field=field)
    message = (getattr(diag, "message_primary", "") or "") if diag is not None else ""
    if "is void" in message:
        return Conflict("This bill is void.")
    if "shift" in message and "closed" in message:
        return Conflict("That cash shift is closed.")
    return error


def _run(session: Session, statement: str, params: dict[str, Any]) -> list:
    """Run SQL in the transaction; a constraint the database enforced becomes the user's message."""
    try:
        return fetch(session, statement, params)
    except (exc.IntegrityError, exc.DBAPIError) as error:
        raised = _refused(error)
        if raised is error:
            raise
        raise raised from None


def _claim(session: Session, key: str | None, scope: str, data: dict, actor: Actor) -> dict | None:
    try:
        return idempotency.claim(session, key, scope, data, actor.user_id)
    except idempotency.IdempotencyError as error:
        raise BadInput(str(error)) from None


# ---- bills -----------------------------------------------------------------

# balance_cents on the locked row is current: every money row's trigger settles it under this lock.
LOCK_BILL = ("SELECT id, patient_id, appointment_id, status, balance_cents FROM bill "
             "WHERE id = :bill_id FOR UPDATE")
# The desk's posting locks the bill and finds the cashier's open shift in one round trip.
LOCK_BILL_AND_SHIFT = ("SELECT b.id, b.patient_id, b.appointment_id, b.status, b.balance_cents, "
                       "(SELECT s.id FROM cash_shift s WHERE s.cashier_id = :user_id AND s.closed_at IS NULL) "
                       "AS shift_id FROM bill b WHERE b.id = :bill_id FOR UPDATE OF b")
BALANCE = ("SELECT charged_cents, discount_cents, total_cents, paid_cents, balance_cents, status "
           "FROM bill_balance WHERE bill_id = :bill_id")


def lock_bill(session: Session, bill_id: int, open_only: bool = True, user_id: int | None = None):
    """The bill row, locked until the transaction ends; NotFound or Conflict (void).

    With `user_id` the row also carries that cashier's open shift (`shift_id`, or None).
    """
    if user_id is None:
        rows = fetch(session, LOCK_BILL, {"bill_id": bill_id})
    else:
        rows = fetch(session, LOCK_BILL_AND_SHIFT, {"bill_id": bill_id, "user_id": user_id})
    if not rows:
        raise NotFound("There is no bill with that number.")
    if open_only and rows[0].status == "void":
        raise Conflict("This bill is void: nothing more can be charged or paid on it.")
    return rows[0]


def balance(session: Session, bill_id: int):
    """The bill's figures as PostgreSQL computes them (cents)."""
    return fetch(session, BALANCE, {"bill_id": bill_id})[0]


def open_visit_bill(session: Session, appointment_id: int, actor: Actor) -> int:
    """The visit's bill, opened if it has none (race-safe: the unique index keeps one)."""
    visit = fetch(session, "SELECT patient_id, status FROM appointment WHERE id = :id", {"id": appointment_id})
    if not visit:
        raise NotFound("There is no appointment with that number.")
    if visit[0].status in ("cancelled", "pending_review"):
        raise Conflict("A cancelled or unconfirmed appointment cannot be billed.")
    opened = fetch(session, "INSERT INTO bill (patient_id, appointment_id, opened_by) "
                            "VALUES (:patient_id, :appointment_id, :user_id) "
                            "ON CONFLICT (appointment_id) WHERE appointment_id IS NOT NULL DO NOTHING RETURNING id",
                   {"patient_id": visit[0].patient_id, "appointment_id": appointment_id, "user_id": actor.user_id})
    if opened:
        record_audit(session, actor, "bill.open", "bill", opened[0].id, visit[0].patient_id,
                     {"appointment_id": appointment_id})
        return opened[0].id
    return fetch(session, "SELECT id FROM bill WHERE appointment_id = :id", {"id": appointment_id})[0].id


def open_bill(patient_id: int, appointment_id: int | None, actor: Actor, key: str | None = None) -> int:
    """Open the visit's bill (idempotent: one per visit), or a new patient bill with a form key."""
    with transaction() as session:
        if appointment_id is not None:
            visit = fetch(session, "SELECT patient_id FROM appointment WHERE id = :id", {"id": appointment_id})
            if visit and visit[0].patient_id != patient_id:
                raise BadInput("That appointment is another patient's.")
            return open_visit_bill(session, appointment_id, actor)
        first = _claim(session, key, "bill.open", {"patient_id": patient_id}, actor)
        if first is not None:
            return int(first["bill_id"])
        if not fetch(session, "SELECT 1 FROM patient WHERE id = :id", {"id": patient_id}):
            raise NotFound("There is no patient with that number.")
        bill_id = fetch(session, "INSERT INTO bill (patient_id, opened_by) VALUES (:p, :u) RETURNING id",
                        {"p": patient_id, "u": actor.user_id})[0].id
        record_audit(session, actor, "bill.open", "bill", bill_id, patient_id, {"appointment_id": None})
        assert key is not None
        idempotency.complete(session, key, {"bill_id": bill_id})
        return bill_id


INSERT_LINE = """
INSERT INTO bill_line (bill_id, service_id, code, name, unit_cents, quantity, line_cents, source, source_id,
                       created_by)
SELECT :bill_id, s.id, s.code, s.name, coalesce(:unit_cents, s.price_cents), :quantity,
       coalesce(:unit_cents, s.price_cents) * :quantity, :source, :source_id, :user_id
FROM service s WHERE s.id = :service_id
ON CONFLICT (bill_id, source, source_id, service_id) WHERE source_id IS NOT NULL DO NOTHING
RETURNING id, line_cents
"""


def _service(session: Session, service_id: int):
    rows = fetch(session, "SELECT id, name, price_cents, min_cents, max_cents, is_active FROM service "
                          "WHERE id = :id", {"id": service_id})
    if not rows:
        raise NotFound("There is no such service on the price list.", field="service_id")
    return rows[0]


def _unit_price(service, unit_cents: int | None) -> int | None:
    """The price to charge: the list price, or a typed one within a variable service's range."""
    if unit_cents is None or unit_cents == service.price_cents:
        return None
    if service.min_cents is None and service.max_cents is None:
        raise BadInput(f"{service.name} has a fixed price of {format_cents(service.price_cents)}.",
                       field="unit_price")
    low = service.min_cents if service.min_cents is not None else service.price_cents
    high = service.max_cents if service.max_cents is not None else service.price_cents
    if not low <= unit_cents <= high:
        raise BadInput(f"{service.name} is charged between {format_cents(low)} and {format_cents(high)}.",
                       field="unit_price")
    return unit_cents


def bill_signed_visit(sender, *, session: Session, appointment_id: int, consultation_id: int,
                      services: list[tuple[int, int]], actor: Actor) -> None:
    """Put a just-signed consultation's services on its visit's bill, in the signing transaction."""
    if services:
        charge_services(session, open_visit_bill(session, appointment_id, actor), services, actor,
                        "consultation", consultation_id)


def charge_services(session: Session, bill_id: int, services: Iterable[tuple[int, int]], actor: Actor,
                    source: str, source_id: int | None) -> int:
    """Charge price-list services on a bill in the caller's transaction; returns lines added.

    A (source, source_id) pair charges each service once: pulling the same signed consultation
    twice adds nothing.
    """
    if source not in LINE_SOURCES:
        raise BadInput("Unknown charge source.")
    bill = lock_bill(session, bill_id)
    added = 0
    for service_id, quantity in services:
        service = _service(session, service_id)
        if not service.is_active:
            raise Conflict(f"{service.name} is no longer on the price list.", field="service_id")
        if not 1 <= quantity <= 1000:
            raise BadInput("The quantity must be between 1 and 1000.", field="quantity")
        rows = _run(session, INSERT_LINE, {"bill_id": bill_id, "service_id": service_id, "unit_cents": None,
                                           "quantity": quantity, "source": source, "source_id": source_id,
                                           "user_id": actor.user_id})
        if rows:
            added += 1
            record_audit(session, actor, "bill.charge", "bill_line", rows[0].id, bill.patient_id,
                         {"bill_id": bill_id, "service_id": service_id, "quantity": quantity,
                          "source": source, "source_id": source_id})
    return added


def add_line(bill_id: int, service_id: int, quantity: int, unit_cents: int | None, actor: Actor,
             key: str | None) -> int:
    """Charge one price-list service from the desk; returns the new line's id."""
    with transaction() as session:
        first = _claim(session, key, "bill.line", {"bill_id": bill_id, "service_id": service_id,
                                                   "quantity": quantity, "unit_cents": unit_cents}, actor)
        if first is not None:
            return int(first["line_id"])
        bill = lock_bill(session, bill_id)
        service = _service(session, service_id)
        if not service.is_active:
            raise Conflict(f"{service.name} is no longer on the price list.", field="service_id")
        unit = _unit_price(service, unit_cents)
        rows = _run(session, INSERT_LINE, {"bill_id": bill_id, "service_id": service_id, "unit_cents": unit,
                                           "quantity": quantity, "source": "desk", "source_id": None,
                                           "user_id": actor.user_id})
        line_id = rows[0].id
        record_audit(session, actor, "bill.charge", "bill_line", line_id, bill.patient_id,
                     {"bill_id": bill_id, "service_id": service_id, "quantity": quantity,
                      "line_cents": rows[0].line_cents})
        assert key is not None
        idempotency.complete(session, key, {"line_id": line_id})
        return line_id


def add_discount(bill_id: int, line_id: int | None, amount_cents: int, reason: str, actor: Actor,
                 key: str | None) -> int:
    """A discount on a line or the bill, with its reason; reception within a limit, admin any."""
    if not actor.in_group(DESK):
        raise Forbidden("Only reception or admin can give a discount.")
    if amount_cents <= 0:
        raise BadInput("The discount must be more than zero.", field="amount")
    with transaction() as session:
        first = _claim(session, key, "bill.discount", {"bill_id": bill_id, "line_id": line_id,
                                                       "amount": amount_cents, "reason": reason}, actor)
        if first is not None:
            return int(first["discount_id"])
        bill = lock_bill(session, bill_id)
        figures = balance(session, bill_id)
        if line_id is not None:
            line = fetch(session, "SELECT EXISTS (SELECT 1 FROM bill_line_void v WHERE v.bill_line_id = l.id) "
                                  "AS voided FROM bill_line l WHERE l.id = :l AND l.bill_id = :b",
                         {"l": line_id, "b": bill_id})
            if not line:
                raise BadInput("That line is not on this bill.", field="line_id")
            if line[0].voided:  # a void takes the line and its discounts off; nothing is left to discount
                raise Conflict("That charge is void: there is nothing on it to discount.", field="line_id")
        if not actor.in_group(ADMINS):
            limit = figures.charged_cents * int(current_app.config["PAYMENTS_RECEPTION_DISCOUNT_PERCENT"]) // 100
            if figures.discount_cents + amount_cents > limit:
                raise Forbidden(f"Reception can discount up to {format_cents(limit)} on this bill; "
                                "ask an admin for more.", field="amount")
        if figures.total_cents - amount_cents < figures.paid_cents:
            raise Conflict("The bill is already paid beyond that: refund the payment first, then discount.",
                           field="amount")
        discount_id = _run(session, "INSERT INTO bill_discount (bill_id, bill_line_id, amount_cents, reason, "
                                    "given_by) VALUES (:b, :l, :a, :r, :u) RETURNING id",
                           {"b": bill_id, "l": line_id, "a": amount_cents, "r": reason, "u": actor.user_id})[0].id
        record_audit(session, actor, "bill.discount", "bill_discount", discount_id, bill.patient_id,
                     {"bill_id": bill_id, "line_id": line_id, "amount_cents": amount_cents, "reason": reason})
        assert key is not None
        idempotency.complete(session, key, {"discount_id": discount_id})
        return discount_id


def void_bill(bill_id: int, reason: str, actor: Actor) -> None:
    """Void a bill with nothing paid on it (admin only); its lines stay, its total becomes zero."""
    if not actor.in_group(VOIDERS):
        raise Forbidden("Only an admin can void a bill.")
    with transaction() as session:
        bill = lock_bill(session, bill_id, open_only=False)
        if bill.status == "void":
            return
        if balance(session, bill_id).paid_cents:
            raise Conflict("Money is still paid on this bill: refund or void the payments first.")
        fetch(session, "UPDATE bill SET status = 'void', balance_cents = 0, voided_at = now(), voided_by = :u, "
                       "void_reason = :r WHERE id = :b", {"u": actor.user_id, "r": reason, "b": bill_id})
        record_audit(session, actor, "bill.void", "bill", bill_id, bill.patient_id, {"reason": reason})


def void_line(bill_id: int, line_id: int, reason: str, actor: Actor, key: str | None) -> int:
    """Take a mistaken charge off a bill (admin), as a new row; the line and its discounts stop counting.

    Refused when what is already paid would be above the new total: refund first, then void.
    """
    if not actor.in_group(VOIDERS):
        raise Forbidden("Only an admin can void a charge.")
    with transaction() as session:
        first = _claim(session, key, "bill.line_void", {"bill_id": bill_id, "line_id": line_id, "reason": reason},
                       actor)
        if first is not None:
            return int(first["void_id"])
        bill = lock_bill(session, bill_id)
        rows = fetch(session, "SELECT l.line_cents, v.id AS void_id, "
                              "l.line_cents - coalesce((SELECT sum(amount_cents) FROM bill_discount d "
                              "WHERE d.bill_line_id = l.id), 0)::bigint AS net_cents "
                              "FROM bill_line l LEFT JOIN bill_line_void v ON v.bill_line_id = l.id "
                              "WHERE l.id = :l AND l.bill_id = :b", {"l": line_id, "b": bill_id})
        if not rows:
            raise NotFound("That charge is not on this bill.", field="line_id")
        if rows[0].void_id is not None:
            raise Conflict("That charge is already void.", field="line_id")
        if rows[0].net_cents > bill.balance_cents:
            raise Conflict("More is paid than the bill would total without that charge: refund first, then void.",
                           field="line_id")
        void_id = _run(session, "INSERT INTO bill_line_void (bill_line_id, bill_id, amount_cents, reason, actor_id) "
                                "VALUES (:l, :b, :a, :r, :u) RETURNING id",
                       {"l": line_id, "b": bill_id, "a": rows[0].line_cents, "r": reason, "u": actor.user_id})[0].id
        record_audit(session, actor, "bill.line_void", "bill_line", line_id, bill.patient_id,
                     {"bill_id": bill_id, "void_id": void_id, "line_cents": rows[0].line_cents, "reason": reason})
        assert key is not None
        idempotency.complete(session, key, {"void_id": void_id})
        return void_id


# ---- payments --------------------------------------------------------------

INSERT_PAYMENT = """
INSERT INTO payment (bill_id, method, amount_cents, tendered_cents, change_cents, reference, mpesa_code,
                     insurer, member_number, preauth_number, receipt_number, cashier_id, shift_id)
VALUES (:bill_id, :method, :amount_cents, :tendered_cents, :change_cents, :reference, :mpesa_code,
        :insurer, :member_number, :preauth_number, kliniki_receipt_number(:year), :cashier_id, :shift_id)
RETURNING id, receipt_number
"""


def open_shift_id(session: Session, user_id: int | None) -> int | None:
    """The cashier's open shift, if any."""
    rows = fetch(session, "SELECT id FROM cash_shift WHERE cashier_id = :u AND closed_at IS NULL", {"u": user_id})
    return rows[0].id if rows else None


def _post(session: Session, bill_id: int, payment: PaymentInput, actor: Actor, shift_id: int | None,
          bill=None) -> dict:
    """The posting rules, on a bill this transaction locks (or `bill`, already locked): refuse, insert, audit."""
    if bill is None:
        bill = lock_bill(session, bill_id)
    owed = bill.balance_cents
    amount, tendered = payment.amount_cents, payment.tendered_cents
    if amount <= 0:
        raise BadInput("The amount must be more than zero.", field="amount")
    if owed <= 0:
        raise Conflict("Nothing is owed on this bill.", field="amount")
    if payment.method == "cash":
        tendered = tendered if tendered is not None else amount
        if tendered < amount:
            raise BadInput("The cash tendered is less than the amount.", field="tendered")
        # Cash above the balance is money handed over: the balance is taken, the rest is change.
        amount = min(amount, owed)
    elif amount > owed:
        raise Conflict(f"That is more than the balance of {format_cents(owed)}.", field="amount")
    if payment.mpesa_code and fetch(session, "SELECT 1 FROM payment WHERE mpesa_code = :c",
                                    {"c": payment.mpesa_code}):
        raise Conflict("That M-Pesa code is already on a payment.", field="mpesa_code")
    change = (tendered - amount) if tendered is not None else 0
    row = _run(session, INSERT_PAYMENT, {
        "bill_id": bill_id, "method": payment.method, "amount_cents": amount, "tendered_cents": tendered,
        "change_cents": change, "reference": payment.reference, "mpesa_code": payment.mpesa_code,
        "insurer": payment.insurer, "member_number": payment.member_number,
        "preauth_number": payment.preauth_number, "year": clinic_time.today().year,
        "cashier_id": actor.user_id, "shift_id": shift_id})[0]
    record_audit(session, actor, "payment.post", "payment", row.id, bill.patient_id,
                 {"bill_id": bill_id, "method": payment.method, "amount_cents": amount,
                  "receipt_number": row.receipt_number})
    return {"payment_id": row.id, "receipt_number": row.receipt_number, "amount_cents": amount,
            "change_cents": change, "bill_id": bill_id}


def post_payment(bill_id: int, payment: PaymentInput, actor: Actor, key: str | None,
                 read_back: bool = False) -> dict:
    """Take a payment at the desk in one transaction; a repeated key returns the first answer.

    With `read_back` the answer also carries "row": the payment and its bill's new figures, read in
    the same transaction (the desk's panel shows them; reading later would take another connection).
    """
    if not actor.in_group(DESK):
        raise Forbidden("Only reception or admin can take money.")
    with transaction() as session:
        result = _claim(session, key, "payment", {"bill_id": bill_id, **payment.fingerprint()}, actor)
        if result is None:
            bill = lock_bill(session, bill_id, user_id=actor.user_id)
            if bill.shift_id is None:
                raise Conflict("Open your cash shift before taking money.")
            result = _post(session, bill_id, payment, actor, bill.shift_id, bill)
            assert key is not None
            idempotency.complete(session, key, result)
        if read_back:
            return {**result, "row": queries.posted(session, int(result["payment_id"]))}
        return result


def reverse_payment(payment_id: int, kind: str, amount_cents: int | None, reason: str, actor: Actor,
                    key: str | None) -> dict:
    """Void (admin: the whole payment) or refund (desk: part or all), as a new row pointing at it."""
    if kind not in ("void", "refund"):
        raise BadInput("Choose void or refund.", field="kind")
    if kind == "void" and not actor.in_group(VOIDERS):
        raise Forbidden("Only an admin can void a payment.")
    if kind == "refund" and not actor.in_group(REFUNDERS):
        raise Forbidden("Only reception or admin can refund.")
    with transaction() as session:
        first = _claim(session, key, "payment.reverse", {"payment_id": payment_id, "kind": kind,
                                                         "amount": amount_cents, "reason": reason}, actor)
        if first is not None:
            return first
        found = fetch(session, "SELECT bill_id FROM payment WHERE id = :p", {"p": payment_id})
        if not found:
            raise NotFound("There is no payment with that number.")
        bill = lock_bill(session, found[0].bill_id, open_only=False)
        paid = fetch(session, "SELECT p.method, p.amount_cents, p.shift_id, s.closed_at AS shift_closed, "
                              "(SELECT coalesce(sum(amount_cents), 0) FROM payment_reversal r "
                              "WHERE r.payment_id = p.id)::bigint AS reversed "
                              "FROM payment p LEFT JOIN cash_shift s ON s.id = p.shift_id "
                              "WHERE p.id = :p", {"p": payment_id})[0]
        left = paid.amount_cents - paid.reversed
        if left <= 0:
            raise Conflict("That payment is already fully voided or refunded.")
        if paid.shift_closed is not None and not actor.in_group(ADMINS):
            raise Forbidden("That payment's shift is closed: only an admin can reverse it.")
        amount = left if kind == "void" or amount_cents is None else amount_cents
        if amount <= 0:
            raise BadInput("The amount must be more than zero.", field="amount")
        if amount > left:
            raise Conflict(f"Only {format_cents(left)} is left of that payment.", field="amount")
        own_shift = open_shift_id(session, actor.user_id)
        if kind == "void":
            # A void cancels the payment where it was taken, if that shift is still open.
            shift_id = paid.shift_id if paid.shift_closed is None else own_shift
        else:
            shift_id = own_shift
            if shift_id is None:
                raise Conflict("Open your cash shift before giving a refund.")
        row = _run(session, "INSERT INTO payment_reversal (payment_id, bill_id, kind, method, amount_cents, reason, "
                            "actor_id, shift_id) VALUES (:p, :b, :k, :m, :a, :r, :u, :s) RETURNING id",
                   {"p": payment_id, "b": bill.id, "k": kind, "m": paid.method, "a": amount, "r": reason,
                    "u": actor.user_id, "s": shift_id})[0]
        record_audit(session, actor, f"payment.{kind}", "payment_reversal", row.id, bill.patient_id,
                     {"payment_id": payment_id, "amount_cents": amount, "reason": reason})
        result = {"reversal_id": row.id, "bill_id": bill.id, "amount_cents": amount, "kind": kind}
        assert key is not None
        idempotency.complete(session, key, result)
        return result


def record_claim_outcome(payment_id: int, outcome: str, note: str | None, actor: Actor) -> None:
    """The insurer settled or rejected an insurance payment; a rejection voids it (a new row)."""
    if outcome not in ("settled", "rejected"):
        raise BadInput("Choose settled or rejected.", field="outcome")
    if not actor.in_group(DESK):
        raise Forbidden("Only reception or admin record insurers' answers.")
    if outcome == "rejected" and not note:
        raise BadInput("Say why the insurer rejected the claim.", field="note")
    with transaction() as session:
        found = fetch(session, "SELECT bill_id, method, amount_cents FROM payment WHERE id = :p", {"p": payment_id})
        if not found or found[0].method != "insurance":
            raise NotFound("There is no insurance claim with that number.")
        bill = lock_bill(session, found[0].bill_id, open_only=False)
        rows = _run(session, "INSERT INTO insurance_claim_outcome (payment_id, outcome, note, actor_id) "
                             "VALUES (:p, :o, :n, :u) ON CONFLICT (payment_id) DO NOTHING RETURNING id",
                    {"p": payment_id, "o": outcome, "n": note, "u": actor.user_id})
        if not rows:
            raise Conflict("The insurer's answer on this claim is already recorded.")
        if outcome == "rejected":
            left = fetch(session, "SELECT p.amount_cents - (SELECT coalesce(sum(amount_cents), 0) FROM "
                                  "payment_reversal r WHERE r.payment_id = p.id)::bigint AS left_cents "
                                  "FROM payment p WHERE p.id = :p", {"p": payment_id})[0].left_cents
            if left > 0:
                _run(session, "INSERT INTO payment_reversal (payment_id, bill_id, kind, method, amount_cents, reason, "
                              "actor_id, shift_id) VALUES (:p, :b, 'void', 'insurance', :a, :r, :u, NULL)",
                     {"p": payment_id, "b": bill.id, "a": left, "r": f"claim rejected: {note}", "u": actor.user_id})
        record_audit(session, actor, f"claim.{outcome}", "payment", payment_id, bill.patient_id, {"note": note})


def record_view(bill_id: int, patient_id: int, actor: Actor) -> None:
    """Audit that a bill (a patient's data) was shown."""
    with transaction() as session:
        record_audit(session, actor, "bill.view", "bill", bill_id, patient_id)


def record_print(payment_id: int, actor: Actor) -> bool:
    """Log a receipt print; True when it is the first (the original), False for a COPY."""
    with transaction() as session:
        found = fetch(session, "SELECT b.patient_id FROM payment p JOIN bill b ON b.id = p.bill_id "
                               "WHERE p.id = :p", {"p": payment_id})
        if not found:
            raise NotFound("There is no receipt with that number.")
        earlier = fetch(session, "SELECT 1 FROM receipt_print WHERE payment_id = :p LIMIT 1", {"p": payment_id})
        fetch(session, "INSERT INTO receipt_print (payment_id, printed_by) VALUES (:p, :u)",
              {"p": payment_id, "u": actor.user_id})
        record_audit(session, actor, "receipt.print", "payment", payment_id, found[0].patient_id,
                     {"copy": bool(earlier)})
        return not earlier


# ---- price list ------------------------------------------------------------

def save_service(service_id: int | None, fields: ServiceInput, actor: Actor) -> int:
    """Add or change a price-list entry (admin); existing bill lines keep the price they copied."""
    if not actor.in_group(ADMINS):
        raise Forbidden("Only an admin can change the price list.")
    values = dict(fields.__dict__)
    with transaction() as session:
        if service_id is None:
            row = _run(session, "INSERT INTO service (code, name, category, price_cents, min_cents, max_cents, "
                                "is_active) VALUES (:code, :name, :category, :price_cents, :min_cents, "
                                ":max_cents, :is_active) RETURNING id", values)[0]
        else:
            rows = _run(session, "UPDATE service SET code = :code, name = :name, category = :category, "
                                 "price_cents = :price_cents, min_cents = :min_cents, max_cents = :max_cents, "
                                 "is_active = :is_active, updated_at = now() WHERE id = :id RETURNING id",
                        {**values, "id": service_id})
            if not rows:
                raise NotFound("There is no such service on the price list.")
            row = rows[0]
        record_audit(session, actor, "service.save", "service", row.id, None,
                     {k: v for k, v in values.items()})
        return row.id


# ---- cashier shifts --------------------------------------------------------

EXPECTED = """
WITH taken AS (
    SELECT method, sum(amount_cents) AS cents FROM payment WHERE shift_id = :s GROUP BY method),
reversed AS (
    SELECT method, sum(amount_cents) AS cents FROM payment_reversal WHERE shift_id = :s GROUP BY method)
SELECT m.method,
       (coalesce(t.cents, 0) - coalesce(x.cents, 0)
        + CASE WHEN m.method = 'cash' THEN (SELECT opening_float_cents FROM cash_shift WHERE id = :s) ELSE 0 END
       )::bigint AS expected_cents
FROM unnest(CAST(:methods AS text[])) WITH ORDINALITY AS m(method, n)
LEFT JOIN taken t ON t.method = m.method LEFT JOIN reversed x ON x.method = m.method
ORDER BY m.n
"""


def expected_amounts(session: Session, shift_id: int) -> dict[str, int]:
    """What the shift should hold per method (float + payments - reversals), computed in SQL."""
    return {row.method: row.expected_cents
            for row in fetch(session, EXPECTED, {"s": shift_id, "methods": list(METHODS)})}


def open_shift(actor: Actor, opening_float_cents: int) -> int:
    """Open the cashier's shift with its float (one open shift per cashier)."""
    if not actor.in_group(DESK):
        raise Forbidden("Only reception or admin keep a cash drawer.")
    with transaction() as session:
        existing = open_shift_id(session, actor.user_id)
        if existing is not None:
            return existing
        row = _run(session, "INSERT INTO cash_shift (cashier_id, opening_float_cents) VALUES (:u, :f) "
                            "ON CONFLICT (cashier_id) WHERE closed_at IS NULL DO NOTHING RETURNING id",
                   {"u": actor.user_id, "f": opening_float_cents})
        if not row:
            shift_id = open_shift_id(session, actor.user_id)
            assert shift_id is not None
            return shift_id
        record_audit(session, actor, "shift.open", "cash_shift", row[0].id, None,
                     {"opening_float_cents": opening_float_cents})
        return row[0].id


def close_shift(shift_id: int, counted: dict[str, int], note: str | None, actor: Actor) -> dict[str, int]:
    """Close a shift once: counted per method beside what SQL expects; a difference needs a note."""
    with transaction() as session:
        rows = fetch(session, "SELECT cashier_id, closed_at FROM cash_shift WHERE id = :s FOR UPDATE",
                     {"s": shift_id})
        if not rows:
            raise NotFound("There is no such shift.")
        if rows[0].cashier_id != actor.user_id and not actor.in_group(ADMINS):
            raise Forbidden("Only the cashier or an admin can close this shift.")
        if rows[0].closed_at is not None:
            raise Conflict("This shift is already closed.")
        expected = expected_amounts(session, shift_id)
        differences = {m: counted.get(m, 0) - expected[m] for m in METHODS}
        if any(differences.values()) and not note:
            raise BadInput("The counted amounts differ from what is expected: explain the difference.",
                           field="note")
        for method in METHODS:
            fetch(session, "INSERT INTO cash_shift_count (shift_id, method, expected_cents, counted_cents) "
                           "VALUES (:s, :m, :e, :c)", {"s": shift_id, "m": method, "e": expected[method],
                                                      "c": counted.get(method, 0)})
        fetch(session, "UPDATE cash_shift SET closed_at = now(), closed_by = :u, close_note = :n WHERE id = :s",
              {"u": actor.user_id, "n": note, "s": shift_id})
        record_audit(session, actor, "shift.close", "cash_shift", shift_id, None,
                     {"differences": differences, "note": note})
        return differences


# ---- M-Pesa C2B confirmations ----------------------------------------------

_BILL_REF = re.compile(r"^(?:B|BILL)[- ]?([0-9]{1,18})$", re.IGNORECASE)
_FILE_REF = re.compile(r"^KL-?([0-9]{1,18})$", re.IGNORECASE)


def _text(value: object, limit: int) -> str | None:
    cleaned = "".join(ch for ch in str(value if value is not None else "") if ch.isprintable()).strip()
    return cleaned[:limit] or None


def store_confirmation(payload: dict) -> int | None:
    """Store a Daraja C2B confirmation as received (first, always); None for a repeat of a TransID."""
    trans_id = _text(payload.get("TransID"), 32)
    if trans_id is None:
        return None
    try:
        amount = parse_cents(str(payload.get("TransAmount", "")), "amount") or 0
    except BadInput:
        amount = 0
    names = " ".join(filter(None, (_text(payload.get(k), 60) for k in ("FirstName", "MiddleName", "LastName"))))
    with transaction() as session:
        rows = fetch(session, "INSERT INTO mpesa_confirmation (trans_id, amount_cents, bill_ref, msisdn, trans_time, "
                              "payer_name, raw) VALUES (:t, :a, :ref, :msisdn, :time, :name, CAST(:raw AS jsonb)) "
                              "ON CONFLICT (trans_id) DO NOTHING RETURNING id",
                     {"t": trans_id, "a": amount, "ref": _text(payload.get("BillRefNumber"), 64),
                      "msisdn": _text(payload.get("MSISDN"), 32), "time": _text(payload.get("TransTime"), 14),
                      "name": names or None, "raw": _json(payload)})
        return rows[0].id if rows else None


def _json(payload: dict) -> str:
    """The callback as stored: its first 50 fields, as printable text of at most 500 characters each."""
    kept = {_text(key, 64) or "?": _text(value, 500) for key, value in list(payload.items())[:50]}
    return json.dumps(kept)


def _match_bill(session: Session, reference: str | None) -> int | None:
    """The bill a BillRefNumber names: B123 (a bill), or a file number (its oldest outstanding bill)."""
    if not reference:
        return None
    reference = reference.strip()
    bill = _BILL_REF.match(reference)
    if bill:
        rows = fetch(session, "SELECT id FROM bill WHERE id = :b", {"b": int(bill.group(1))})
        return rows[0].id if rows else None
    if _FILE_REF.match(reference):
        number = "KL-" + reference.upper().removeprefix("KL").lstrip("-")
        rows = fetch(session, "SELECT b.id FROM patient p JOIN bill b ON b.patient_id = p.id "
                              "WHERE p.file_number = :f AND b.status IN ('open', 'partly_paid') "
                              "ORDER BY b.opened_at, b.id LIMIT 1", {"f": number})
        return rows[0].id if rows else None
    return None


def apply_confirmation(confirmation_id: int) -> str:
    """Apply a stored confirmation to the bill it names, or queue it for reception; its new status."""
    system = Actor.system()
    with transaction() as session:
        rows = fetch(session, "SELECT id, trans_id, amount_cents, bill_ref, status FROM mpesa_confirmation "
                              "WHERE id = :c FOR UPDATE", {"c": confirmation_id})
        if not rows or rows[0].status != "received":
            return rows[0].status if rows else "missing"
        confirmation = rows[0]
        reason = None
        bill_id = _match_bill(session, confirmation.bill_ref)
        if not MPESA_CODE.fullmatch(confirmation.trans_id) or confirmation.amount_cents <= 0:
            reason = "invalid"
        elif bill_id is None:
            reason = "unmatched"
        else:
            lock_bill(session, bill_id, open_only=False)
            owed = balance(session, bill_id)
            if owed.status == "void" or owed.balance_cents <= 0 or confirmation.amount_cents > owed.balance_cents:
                reason = "over"
            elif confirmation.amount_cents < owed.balance_cents:
                reason = "short"
            elif fetch(session, "SELECT 1 FROM payment WHERE mpesa_code = :c", {"c": confirmation.trans_id}):
                reason = "duplicate"
        if reason is None:
            assert bill_id is not None
            result = _post(session, bill_id, PaymentInput("mpesa", confirmation.amount_cents,
                                                          mpesa_code=confirmation.trans_id,
                                                          reference=confirmation.bill_ref), system, None)
            fetch(session, "UPDATE mpesa_confirmation SET status = 'applied', payment_id = :p WHERE id = :c",
                  {"p": result["payment_id"], "c": confirmation_id})
            return "applied"
        fetch(session, "UPDATE mpesa_confirmation SET status = 'queued', queue_reason = :r WHERE id = :c",
              {"r": reason, "c": confirmation_id})
        return "queued"


def receive_confirmation(payload: dict) -> str:
    """Store, then apply or queue, a C2B confirmation; a repeated TransID changes nothing."""
    confirmation_id = store_confirmation(payload)
    if confirmation_id is None:
        return "duplicate"
    try:
        return apply_confirmation(confirmation_id)
    except DomainError:
        # Stored already: a posting rule said no, so reception allocates it by hand.
        with transaction() as session:
            fetch(session, "UPDATE mpesa_confirmation SET status = 'queued', queue_reason = 'refused' "
                           "WHERE id = :c AND status = 'received'", {"c": confirmation_id})
        return "queued"


def allocate_confirmation(confirmation_id: int, bill_id: int, actor: Actor) -> dict:
    """Reception applies a queued confirmation to a bill, through the same posting rules."""
    if not actor.in_group(DESK):
        raise Forbidden("Only reception or admin can allocate M-Pesa payments.")
    with transaction() as session:
        rows = fetch(session, "SELECT trans_id, amount_cents, bill_ref, status FROM mpesa_confirmation "
                              "WHERE id = :c FOR UPDATE", {"c": confirmation_id})
        if not rows:
            raise NotFound("There is no such M-Pesa confirmation.")
        confirmation = rows[0]
        if confirmation.status != "queued":
            raise Conflict("That M-Pesa payment has already been applied.")
        if not MPESA_CODE.fullmatch(confirmation.trans_id) or confirmation.amount_cents <= 0:
            raise Conflict("That confirmation has no valid code or amount; settle it with Safaricom.")
        result = _post(session, bill_id, PaymentInput("mpesa", confirmation.amount_cents,
                                                      mpesa_code=confirmation.trans_id,
                                                      reference=confirmation.bill_ref), actor,
                       open_shift_id(session, actor.user_id))
        if result["amount_cents"] != confirmation.amount_cents:
            raise Conflict("The amount is above that bill's balance.")
        fetch(session, "UPDATE mpesa_confirmation SET status = 'allocated', payment_id = :p WHERE id = :c",
              {"p": result["payment_id"], "c": confirmation_id})
        return result
