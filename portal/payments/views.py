"""Payments pages: thin views that parse the request, call a service or a query, and render."""
from __future__ import annotations

import csv
import hmac
import io
from datetime import date
from typing import Iterable

from flask import Response, current_app, jsonify, request, url_for
from flask_login import current_user
from sqlalchemy.orm import Session

from .. import clinic_time, validation
from ..auth.access import current_actor, public, roles
from ..auth.roles import ADMINS, ALL_STAFF, DESK
from ..db import report_session
from ..domain import DomainError
from ..errors import fail
from ..extensions import csrf, db
from ..idempotency import new_key
from ..models.billing import SERVICE_CATEGORIES
from ..models.payments import METHODS
from ..money import input_value, parse_cents
from ..web import redirect_to, render, render_fragment
from . import bp, forms, queries, services
from .forms import METHOD_LABELS


def _db() -> Session:
    """This request's session (the scoped session's current one)."""
    return db.session()


STATUS_LABELS = {"open": "Open", "partly_paid": "Partly paid", "paid": "Paid", "void": "Void"}


@bp.app_template_global("patient_balance")
def patient_balance(patient: int | Iterable[int]) -> int | dict[int, int]:
    """What a patient owes on open bills (cents), for the patients and schedule pages; for a list of
    patients (the waiting room) {patient id: cents}, read in one statement."""
    if isinstance(patient, int):
        return queries.patient_balance(_db(), patient)
    return queries.patient_balances(_db(), [int(patient_id) for patient_id in patient])


@bp.app_template_global("payments_may_bill")
def payments_may_bill() -> bool:
    """True when the signed-in user may open a bill (pages outside payments show the button)."""
    return bool(getattr(current_user, "is_authenticated", False)) and current_user.role in DESK


@bp.app_template_global("payments_new_key")
def payments_new_key() -> str:
    """A fresh idempotency key for a bill-opening form on another area's page."""
    return new_key()


@bp.app_template_filter("bill_status")
def bill_status(status: str) -> str:
    return STATUS_LABELS.get(status, status)


@bp.app_template_filter("cents_input")
def cents_input(cents: int) -> str:
    return input_value(cents)


@bp.app_template_filter("method_label")
def method_label(method: str) -> str:
    return METHOD_LABELS.get(method, method)


def _bill_context(bill_id: int, **extra) -> dict:
    session = _db()
    header = queries.bill(session, bill_id)
    if header is None:
        fail(404, "There is no bill with that number.")
    return {"bill": header, **queries.bill_detail(session, bill_id),
            "price_list": queries.services(session, active_only=True),
            "keys": {name: new_key() for name in ("line", "discount", "payment", "reverse", "line_void")},
            "methods": METHODS, "open_shift": services.open_shift_id(session, current_user.id),
            "can_void": current_user.role == "admin", "errors": {}, "typed": {}, **extra}


def _bill_page(bill_id: int, status: int = 200, **extra):
    return render("payments/bill.html", block="bill", status=status, **_bill_context(bill_id, **extra))


def _refused(bill_id: int, form: str, error: DomainError):
    """Show the bill again with the refusal beside the form that caused it; nothing was changed."""
    typed = {k: v[:200] for k, v in request.form.items() if k not in ("csrf_token", "key")}
    response = _bill_page(bill_id, status=error.status, errors={form: error.message, "field": error.field},
                          typed={form: typed})
    # The payment form targets its own panel; a refusal shows the whole bill as it now is.
    response.headers["HX-Retarget"] = "#bill"
    response.headers["HX-Reswap"] = "outerHTML"
    return response


def _posted(posted: dict):
    """htmx's answer to a payment: its panel, and out of band the new row, the figures and the status."""
    row = posted["row"]
    figures = {"id": row.bill_id, "status": row.bill_status, **{name: getattr(row, name) for name in (
        "charged_cents", "discount_cents", "total_cents", "paid_cents", "balance_cents", "voided_cents")}}
    return render_fragment("payments/_posted.html", bill=figures, p=row, posted=posted, methods=METHODS,
                           open_shift=row.shift_id, can_void=current_user.role == "admin", errors={}, typed={},
                           keys={name: new_key() for name in ("payment", "reverse")})


# ---- bills -----------------------------------------------------------------

@bp.route("/")
@roles(DESK)
def outstanding():
    page = queries.outstanding_bills(_db(), request.args.get("cursor"), request.args.get("limit", 25))
    return render("payments/outstanding.html", block="rows", page=page)


@bp.route("/bills/open", methods=["POST"])
@roles(DESK)
def open_bill():
    patient_id = validation.required_row_id(request.form.get("patient_id"), "patient")
    appointment_id = validation.row_id(request.form.get("appointment_id"), "appointment")
    bill_id = services.open_bill(patient_id, appointment_id, current_actor(), request.form.get("key") or new_key())
    return redirect_to(url_for("payments.bill_page", bill_id=bill_id))


@bp.route("/bills/<int:bill_id>")
@roles(DESK)
def bill_page(bill_id: int):
    context = _bill_context(bill_id)
    services.record_view(bill_id, context["bill"].patient_id, current_actor())
    return render("payments/bill.html", block="bill", **context)


@bp.route("/bills/<int:bill_id>/lines", methods=["POST"])
@roles(DESK)
def add_line(bill_id: int):
    try:
        service_id = validation.required_row_id(request.form.get("service_id"), "service", field="service_id")
        quantity = forms.quantity(request.form.get("quantity"))
        unit = parse_cents(request.form.get("unit_price"), "price", field="unit_price", required=False)
        services.add_line(bill_id, service_id, quantity, unit, current_actor(), request.form.get("key"))
    except DomainError as error:
        return _refused(bill_id, "line", error)
    return _after(bill_id)


@bp.route("/bills/<int:bill_id>/discounts", methods=["POST"])
@roles(DESK)
def add_discount(bill_id: int):
    try:
        line_id = validation.row_id(request.form.get("line_id"), "line", field="line_id")
        amount = parse_cents(request.form.get("amount"), "discount", field="amount")
        reason = forms.reason(request.form.get("reason"))
        assert amount is not None
        services.add_discount(bill_id, line_id, amount, reason, current_actor(), request.form.get("key"))
    except DomainError as error:
        return _refused(bill_id, "discount", error)
    return _after(bill_id)


@bp.route("/bills/<int:bill_id>/payments", methods=["POST"])
@roles(DESK)
def take_payment(bill_id: int):
    try:
        payment = forms.parse_payment(request.form)
        htmx = request.headers.get("HX-Request") == "true"
        posted = services.post_payment(bill_id, payment, current_actor(), request.form.get("key"), read_back=htmx)
    except DomainError as error:
        return _refused(bill_id, "payment", error)
    if htmx:
        return _posted(posted)
    return _after(bill_id, posted=posted)


@bp.route("/payments/<int:payment_id>/reverse", methods=["POST"])
@roles(DESK)
def reverse(payment_id: int):
    bill_id = validation.required_row_id(request.form.get("bill_id"), "bill")
    try:
        kind = validation.choice(request.form.get("kind"), "correction", ("void", "refund"), field="kind")
        amount = parse_cents(request.form.get("amount"), "amount", field="amount", required=False)
        reason = forms.reason(request.form.get("reason"))
        assert kind is not None
        done = services.reverse_payment(payment_id, kind, amount, reason, current_actor(), request.form.get("key"))
    except DomainError as error:
        return _refused(bill_id, f"reverse-{payment_id}", error)
    return _after(int(done["bill_id"]))


@bp.route("/payments/<int:payment_id>/claim", methods=["POST"])
@roles(DESK)
def claim_outcome(payment_id: int):
    bill_id = validation.required_row_id(request.form.get("bill_id"), "bill")
    try:
        outcome = validation.choice(request.form.get("outcome"), "claim outcome", ("settled", "rejected"),
                                    field="outcome")
        note = validation.text(request.form.get("note"), "note", forms.REASON_MAX, field="note")
        assert outcome is not None
        services.record_claim_outcome(payment_id, outcome, note, current_actor())
    except DomainError as error:
        return _refused(bill_id, f"claim-{payment_id}", error)
    return _after(bill_id)


@bp.route("/bills/<int:bill_id>/lines/<int:line_id>/void", methods=["POST"])
@roles(ADMINS)
def void_line(bill_id: int, line_id: int):
    try:
        services.void_line(bill_id, line_id, forms.reason(request.form.get("reason")), current_actor(),
                           request.form.get("key"))
    except DomainError as error:
        return _refused(bill_id, f"line-void-{line_id}", error)
    return _after(bill_id)


@bp.route("/bills/<int:bill_id>/void", methods=["POST"])
@roles(ADMINS)
def void_bill(bill_id: int):
    try:
        services.void_bill(bill_id, forms.reason(request.form.get("reason")), current_actor())
    except DomainError as error:
        return _refused(bill_id, "void", error)
    return _after(bill_id)


def _after(bill_id: int, **extra):
    """After a change: htmx gets the bill block again, a plain form a redirect to the bill."""
    if request.headers.get("HX-Request") == "true":
        return _bill_page(bill_id, **extra)
    if extra.get("posted"):
        return redirect_to(url_for("payments.receipt", payment_id=extra["posted"]["payment_id"]))
    return redirect_to(url_for("payments.bill_page", bill_id=bill_id))


@bp.route("/receipts/<int:payment_id>")
@roles(DESK)
def receipt(payment_id: int):
    session = _db()
    paid = queries.receipt(session, payment_id)
    if paid is None:
        fail(404, "There is no receipt with that number.")
    original = services.record_print(payment_id, current_actor())
    paper = validation.choice(request.args.get("paper", "a4"), "paper", ("a4", "roll"))
    detail = queries.bill_detail(session, paid.bill_id)
    return render("payments/receipt.html", payment=paid, copy=not original, paper=paper,
                  bill=queries.bill(session, paid.bill_id), lines=detail["lines"],
                  clinic={k: current_app.config[k] for k in ("CLINIC_NAME", "CLINIC_ADDRESS", "CLINIC_KRA_PIN")})


# ---- price list ------------------------------------------------------------

@bp.route("/prices")
@roles(ALL_STAFF)
def price_list():
    after = None
    if request.args.get("after_id"):
        after = (validation.text(request.args.get("after_name"), "name", 200) or "",
                 validation.required_row_id(request.args.get("after_id"), "position"))
    rows = queries.services(_db(), active_only=current_user.role not in ADMINS, after=after)
    return render("payments/prices.html", services=rows, categories=SERVICE_CATEGORIES, errors={}, typed={},
                  editing=None)


@bp.route("/prices/new", methods=["POST"])
@bp.route("/prices/<int:service_id>", methods=["POST"])
@roles(ADMINS)
def save_price(service_id: int | None = None):
    try:
        services.save_service(service_id, forms.parse_service(request.form), current_actor())
    except DomainError as error:
        typed = {k: v[:200] for k, v in request.form.items() if k != "csrf_token"}
        rows = queries.services(_db(), active_only=False)
        return render("payments/prices.html", status=error.status, services=rows, categories=SERVICE_CATEGORIES,
                      errors={"form": error.message, "field": error.field}, typed=typed, editing=service_id)
    return redirect_to(url_for("payments.price_list"))


# ---- shifts and the cash-up ------------------------------------------------

@bp.route("/shifts")
@roles(DESK)
def shift_list():
    session = _db()
    mine = None if current_user.role in ADMINS else current_user.id
    page = queries.shifts(session, mine, request.args.get("cursor"), request.args.get("limit", 25))
    return render("payments/shifts.html", page=page, open_shift=services.open_shift_id(session, current_user.id),
                  errors={})


@bp.route("/shifts/open", methods=["POST"])
@roles(DESK)
def open_shift():
    try:
        opening = parse_cents(request.form.get("opening_float"), "opening float", field="opening_float")
        assert opening is not None
        shift_id = services.open_shift(current_actor(), opening)
    except DomainError as error:
        page = queries.shifts(_db(), current_user.id, None, 25)
        return render("payments/shifts.html", status=error.status, page=page, open_shift=None,
                      errors={"open": error.message})
    return redirect_to(url_for("payments.shift_page", shift_id=shift_id))


def _shift_or_404(shift_id: int):
    found = queries.shift(_db(), shift_id)
    if found is None or (found.cashier_id != current_user.id and current_user.role not in ADMINS):
        fail(404, "There is no such shift.")
    return found


@bp.route("/shifts/<int:shift_id>")
@roles(DESK)
def shift_page(shift_id: int, status: int = 200, errors: dict | None = None, typed: dict | None = None):
    session = _db()
    found = _shift_or_404(shift_id)
    expected = services.expected_amounts(session, shift_id) if found.closed_at is None else {}
    return render("payments/shift.html", status=status, shift=found, expected=expected,
                  counts=queries.shift_counts(session, shift_id), payments=queries.shift_payments(session, shift_id),
                  methods=METHODS, errors=errors or {}, typed=typed or {})


@bp.route("/shifts/<int:shift_id>/close", methods=["POST"])
@roles(DESK)
def close_shift(shift_id: int):
    _shift_or_404(shift_id)
    try:
        counted = forms.counted_amounts(request.form)
        note = validation.text(request.form.get("note"), "note", forms.REASON_MAX, multiline=True, field="note")
        services.close_shift(shift_id, counted, note, current_actor())
    except DomainError as error:
        typed = {k: v[:200] for k, v in request.form.items() if k != "csrf_token"}
        return shift_page(shift_id, status=error.status, errors={"close": error.message, "field": error.field},
                          typed=typed)
    return redirect_to(url_for("payments.shift_page", shift_id=shift_id))


def _report_day() -> date:
    return validation.day(request.args.get("day"), "day") or clinic_time.today()


@bp.route("/report")
@roles(DESK)
def day_report():
    report = queries.day_report(report_session(), _report_day())  # a report: the read replica, if any
    return render("payments/report.html", report=report, clinic_name=current_app.config["CLINIC_NAME"])


@bp.route("/report.csv")
@roles(DESK)
def day_report_csv():
    report = queries.day_report(report_session(), _report_day())  # a report: the read replica, if any
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["section", "item", "count", "amount_ksh", "reversed_ksh"])
    for row in report["by_method"]:
        writer.writerow(["method", METHOD_LABELS[row.method], "", _csv_money(row.taken_cents),
                         _csv_money(row.reversed_cents)])
    for row in report["by_doctor"]:
        writer.writerow(["doctor", _csv_text(row.doctor), row.payments, _csv_money(row.cents), ""])
    for row in report["by_service"]:
        writer.writerow(["service", _csv_text(f"{row.code} {row.name}"), row.quantity, _csv_money(row.cents), ""])
    for row in report["reversals"]:
        writer.writerow([row.kind, _csv_text(f"{row.receipt_number}: {row.reason}"), "", "",
                         _csv_money(row.amount_cents)])
    outstanding, totals = report["outstanding"], report["totals"]
    writer.writerow(["outstanding", "bills", outstanding.bills, _csv_money(outstanding.cents), ""])
    writer.writerow(["total", "net", "", _csv_money(totals.net_cents), _csv_money(totals.reversed_cents)])
    return Response(out.getvalue(), mimetype="text/csv", headers={
        "Content-Disposition": f"attachment; filename=cash-up-{report['day'].isoformat()}.csv"})


def _csv_money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def _csv_text(value: str) -> str:
    # A cell a spreadsheet would run as a formula is kept as text.
    return "'" + value if value[:1] in ("=", "+", "-", "@") else value


# ---- M-Pesa ----------------------------------------------------------------

@bp.route("/mpesa/confirmation/<secret>", methods=["POST"])
@public
@csrf.exempt
def mpesa_confirmation(secret: str):
    configured = current_app.config["MPESA_CALLBACK_SECRET"]
    if not configured or not hmac.compare_digest(secret.encode(), configured.encode()):
        fail(404, "There is nothing at this address.")
    allowed = [ip.strip() for ip in current_app.config["MPESA_ALLOWED_IPS"].split(",") if ip.strip()]
    if allowed and request.remote_addr not in allowed:
        fail(403, "This address may not send M-Pesa confirmations.")
    payload = request.get_json(silent=True)
    if isinstance(payload, dict):
        services.receive_confirmation(payload)
    # Daraja retries anything but this answer; what could not be applied waits in the queue.
    return jsonify({"ResultCode": 0, "ResultDesc": "Accepted"})


@bp.route("/mpesa")
@roles(DESK)
def mpesa_queue():
    page = queries.mpesa_queue(_db(), request.args.get("cursor"), request.args.get("limit", 25))
    return render("payments/mpesa.html", block="rows", page=page, errors={})


@bp.route("/mpesa/<int:confirmation_id>/allocate", methods=["POST"])
@roles(DESK)
def allocate(confirmation_id: int):
    try:
        bill_id = validation.required_row_id(request.form.get("bill_id"), "bill", field="bill_id")
        result = services.allocate_confirmation(confirmation_id, bill_id, current_actor())
    except DomainError as error:
        page = queries.mpesa_queue(_db(), None, 25)
        return render("payments/mpesa.html", status=error.status, page=page,
                      errors={confirmation_id: error.message})
    return redirect_to(url_for("payments.bill_page", bill_id=result["bill_id"]))

