"""Bills, their lines and discounts, payments, refunds and voids, cashier shifts, M-Pesa confirmations.

Every amount is integer cents (bigint). Lines, discounts, payments and reversals are never
updated or deleted (triggers in migration 0008 refuse it); totals and balances come from the
`bill_balance` view, never from Python.
"""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Integer, SmallInteger, String, Text, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import Model

BILL_STATUSES = ("open", "partly_paid", "paid", "void")
METHODS = ("cash", "card", "mpesa", "insurance", "bank")
REVERSAL_KINDS = ("void", "refund")
LINE_SOURCES = ("desk", "consultation", "mpesa", "import")
MPESA_CODE = r"^[A-Z0-9]{10}$"


class Bill(Model):
    """One visit's bill (one per appointment), or a patient's bill without a visit (a product sale)."""

    __tablename__ = "bill"
    __table_args__ = (
        # One bill per visit, ever: opening twice (two desks, a double click) finds the first.
        Index("uq_bill_appointment_id", "appointment_id", unique=True,
              postgresql_where=text("appointment_id IS NOT NULL")),
        Index("ix_bill_opened_at", "opened_at"),
        Index("ix_bill_patient_id_opened_at", "patient_id", "opened_at"),
        # The outstanding list (keyset on opened_at, id) and a patient's balance read only these.
        Index("ix_bill_outstanding", "opened_at", "id",
              postgresql_where=text("status IN ('open', 'partly_paid')")),
        # The dashboard's outstanding balances (count, total, by age) read only this index (0013).
        Index("ix_bill_outstanding_balance", "opened_at", postgresql_include=["balance_cents"],
              postgresql_where=text("status IN ('open', 'partly_paid')")),
        # What each patient owes (the waiting room's column and its version, the record's balance),
        # read from the index alone (0015).
        Index("ix_bill_owed_by_patient", "patient_id", postgresql_include=["id", "balance_cents"],
              postgresql_where=text("status IN ('open', 'partly_paid')")),
        # The few void bills, which the dashboard's revenue by service leaves out (0013).
        Index("ix_bill_void", "id", postgresql_where=text("status = 'void'")),
        CheckConstraint("status IN ('open', 'partly_paid', 'paid', 'void')", name="status_known"),
        CheckConstraint("(status = 'void') = (voided_at IS NOT NULL)", name="void_has_time"),
        CheckConstraint("voided_at IS NULL OR (void_reason IS NOT NULL AND voided_by IS NOT NULL)",
                        name="void_has_reason"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"))
    appointment_id: Mapped[int | None] = mapped_column(ForeignKey("appointment.id"))
    status: Mapped[str] = mapped_column(String(16), default="open", server_default="open")
    # Kept by the settle trigger from bill_balance (never written by Python), so the day's
    # outstanding total and a patient's balance read one column instead of every bill's rows.
    balance_cents: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    opened_at: Mapped[datetime] = mapped_column(server_default=func.now())
    opened_by: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"))
    voided_at: Mapped[datetime | None]
    voided_by: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"))
    void_reason: Mapped[str | None] = mapped_column(Text)


class BillLine(Model):
    """A charge on a bill: the service's name and price copied at charge time, never changed."""

    __tablename__ = "bill_line"
    __table_args__ = (
        Index("ix_bill_line_bill_id", "bill_id"),
        Index("ix_bill_line_service_id_created_at", "service_id", "created_at"),
        # By when lines were charged (the cash-up); the dashboard's revenue by service reads only this index (0013).
        Index("ix_bill_line_created_at_covering", "created_at",
              postgresql_include=["service_id", "bill_id", "quantity", "line_cents"]),
        # The same source (a signed consultation) charged twice adds nothing.
        Index("uq_bill_line_source", "bill_id", "source", "source_id", "service_id", unique=True,
              postgresql_where=text("source_id IS NOT NULL")),
        CheckConstraint("quantity BETWEEN 1 AND 1000", name="quantity_in_range"),
        CheckConstraint("unit_cents >= 0", name="unit_not_negative"),
        CheckConstraint("line_cents = unit_cents * quantity", name="line_is_unit_times_quantity"),
        CheckConstraint("source IN ('desk', 'consultation', 'mpesa', 'import')", name="source_known"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    bill_id: Mapped[int] = mapped_column(ForeignKey("bill.id"))
    service_id: Mapped[int] = mapped_column(ForeignKey("service.id"))
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    unit_cents: Mapped[int] = mapped_column(BigInteger)
    quantity: Mapped[int] = mapped_column(Integer)
    line_cents: Mapped[int] = mapped_column(BigInteger)
    source: Mapped[str] = mapped_column(String(16), default="desk", server_default="desk")
    source_id: Mapped[int | None] = mapped_column(BigInteger)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class BillDiscount(Model):
    """A discount on one line or the whole bill, with the reason and who gave it."""

    __tablename__ = "bill_discount"
    __table_args__ = (
        Index("ix_bill_discount_bill_id", "bill_id"),
        Index("ix_bill_discount_bill_line_id", "bill_line_id"),
        Index("ix_bill_discount_created_at", "created_at"),
        CheckConstraint("amount_cents > 0", name="amount_positive"),
        CheckConstraint("length(btrim(reason)) > 0", name="reason_given"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    bill_id: Mapped[int] = mapped_column(ForeignKey("bill.id"))
    bill_line_id: Mapped[int | None] = mapped_column(ForeignKey("bill_line.id"))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(Text)
    given_by: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class BillLineVoid(Model):
    """A mistaken charge taken off its bill: a new row naming the line, with the reason and who voided it."""

    __tablename__ = "bill_line_void"
    __table_args__ = (
        Index("uq_bill_line_void_line", "bill_line_id", unique=True),
        Index("ix_bill_line_void_bill_id", "bill_id"),
        Index("ix_bill_line_void_created_at", "created_at"),
        CheckConstraint("amount_cents >= 0", name="amount_not_negative"),
        CheckConstraint("length(btrim(reason)) > 0", name="reason_given"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    bill_line_id: Mapped[int] = mapped_column(ForeignKey("bill_line.id"))
    bill_id: Mapped[int] = mapped_column(ForeignKey("bill.id"))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(Text)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class CashShift(Model):
    """A cashier's shift: opening float, then (once) the counted amounts and a note on any difference."""

    __tablename__ = "cash_shift"
    __table_args__ = (
        Index("uq_cash_shift_open_cashier", "cashier_id", unique=True,
              postgresql_where=text("closed_at IS NULL")),
        Index("ix_cash_shift_opened_at", "opened_at"),
        Index("ix_cash_shift_cashier_id_opened_at", "cashier_id", "opened_at"),
        CheckConstraint("opening_float_cents >= 0", name="float_not_negative"),
        CheckConstraint("closed_at IS NULL OR closed_at >= opened_at", name="closes_after_opening"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    cashier_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id"))
    opened_at: Mapped[datetime] = mapped_column(server_default=func.now())
    opening_float_cents: Mapped[int] = mapped_column(BigInteger)
    closed_at: Mapped[datetime | None]
    closed_by: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"))
    close_note: Mapped[str | None] = mapped_column(Text)


class CashShiftCount(Model):
    """At close: per method, what SQL expected and what the cashier counted."""

    __tablename__ = "cash_shift_count"
    __table_args__ = (
        Index("uq_cash_shift_count_shift_method", "shift_id", "method", unique=True),
        CheckConstraint("method IN ('cash', 'card', 'mpesa', 'insurance', 'bank')", name="method_known"),
        CheckConstraint("counted_cents >= 0", name="counted_not_negative"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    shift_id: Mapped[int] = mapped_column(ForeignKey("cash_shift.id"))
    method: Mapped[str] = mapped_column(String(16))
    expected_cents: Mapped[int] = mapped_column(BigInteger)
    counted_cents: Mapped[int] = mapped_column(BigInteger)


class Payment(Model):
    """Money received against a bill; numbered receipt; corrected only by a reversal row."""

    __tablename__ = "payment"
    __table_args__ = (
        Index("ix_payment_bill_id", "bill_id"),
        # The day's cash-up sums by method and by bill from this index alone (0015).
        Index("ix_payment_created_at", "created_at", postgresql_include=["method", "amount_cents", "bill_id"]),
        Index("ix_payment_shift_id", "shift_id"),
        Index("uq_payment_receipt_number", "receipt_number", unique=True),
        Index("uq_payment_mpesa_code", "mpesa_code", unique=True,
              postgresql_where=text("mpesa_code IS NOT NULL")),
        CheckConstraint("method IN ('cash', 'card', 'mpesa', 'insurance', 'bank')", name="method_known"),
        CheckConstraint("amount_cents > 0", name="amount_positive"),
        CheckConstraint("tendered_cents IS NULL OR (method = 'cash' AND tendered_cents >= amount_cents)",
                        name="tendered_covers_amount"),
        CheckConstraint("change_cents = coalesce(tendered_cents - amount_cents, 0)",
                        name="change_is_tendered_less_amount"),
        CheckConstraint(f"mpesa_code IS NULL OR mpesa_code ~ '{MPESA_CODE}'", name="mpesa_code_format"),
        CheckConstraint("(method = 'mpesa') = (mpesa_code IS NOT NULL)", name="mpesa_has_code"),
        CheckConstraint("method <> 'insurance' OR (insurer IS NOT NULL AND member_number IS NOT NULL)",
                        name="insurance_has_member"),
        CheckConstraint(r"receipt_number ~ '^R-[0-9]{4}-[0-9]{6,}$'", name="receipt_number_format"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    bill_id: Mapped[int] = mapped_column(ForeignKey("bill.id"))
    method: Mapped[str] = mapped_column(String(16))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    tendered_cents: Mapped[int | None] = mapped_column(BigInteger)
    change_cents: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    reference: Mapped[str | None] = mapped_column(String(64))
    mpesa_code: Mapped[str | None] = mapped_column(String(10))
    insurer: Mapped[str | None] = mapped_column(String(120))
    member_number: Mapped[str | None] = mapped_column(String(64))
    preauth_number: Mapped[str | None] = mapped_column(String(64))
    receipt_number: Mapped[str] = mapped_column(String(24))
    cashier_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"))
    shift_id: Mapped[int | None] = mapped_column(ForeignKey("cash_shift.id"))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class PaymentReversal(Model):
    """A void (the whole payment, a mistake) or a refund (money given back), pointing at the payment."""

    __tablename__ = "payment_reversal"
    __table_args__ = (
        Index("ix_payment_reversal_payment_id", "payment_id"),
        Index("ix_payment_reversal_bill_id", "bill_id"),
        Index("ix_payment_reversal_created_at", "created_at"),
        Index("ix_payment_reversal_shift_id", "shift_id"),
        Index("uq_payment_reversal_void", "payment_id", unique=True, postgresql_where=text("kind = 'void'")),
        CheckConstraint("kind IN ('void', 'refund')", name="kind_known"),
        CheckConstraint("amount_cents > 0", name="amount_positive"),
        CheckConstraint("length(btrim(reason)) > 0", name="reason_given"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    payment_id: Mapped[int] = mapped_column(ForeignKey("payment.id"))
    bill_id: Mapped[int] = mapped_column(ForeignKey("bill.id"))
    kind: Mapped[str] = mapped_column(String(8))
    # The payment's method, copied (and checked by a trigger) so the cash-up sums it without a join.
    method: Mapped[str] = mapped_column(String(16))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(Text)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"))
    shift_id: Mapped[int | None] = mapped_column(ForeignKey("cash_shift.id"))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class MpesaConfirmation(Model):
    """A Daraja C2B confirmation as received (stored first), then applied to a bill or queued."""

    __tablename__ = "mpesa_confirmation"
    __table_args__ = (
        Index("uq_mpesa_confirmation_trans_id", "trans_id", unique=True),
        Index("ix_mpesa_confirmation_queued", "received_at", "id", postgresql_where=text("status = 'queued'")),
        Index("ix_mpesa_confirmation_received_at", "received_at"),
        CheckConstraint("status IN ('received', 'applied', 'queued', 'allocated')", name="status_known"),
        CheckConstraint("amount_cents >= 0", name="amount_not_negative"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    trans_id: Mapped[str] = mapped_column(String(32))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    bill_ref: Mapped[str | None] = mapped_column(String(64))
    msisdn: Mapped[str | None] = mapped_column(String(32))
    trans_time: Mapped[str | None] = mapped_column(String(14))
    payer_name: Mapped[str | None] = mapped_column(String(200))
    raw: Mapped[dict] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(String(16), default="received", server_default="received")
    queue_reason: Mapped[str | None] = mapped_column(String(16))
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payment.id"))
    received_at: Mapped[datetime] = mapped_column(server_default=func.now())


class ReceiptPrint(Model):
    """Each time a receipt is printed: the first print is the original, every later one a COPY."""

    __tablename__ = "receipt_print"
    __table_args__ = (Index("ix_receipt_print_payment_id", "payment_id"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    payment_id: Mapped[int] = mapped_column(ForeignKey("payment.id"))
    printed_by: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"))
    printed_at: Mapped[datetime] = mapped_column(server_default=func.now())


class InsuranceClaimOutcome(Model):
    """The insurer's answer to an insurance payment (a claim until then): settled, or rejected (then voided)."""

    __tablename__ = "insurance_claim_outcome"
    __table_args__ = (
        Index("uq_insurance_claim_outcome_payment_id", "payment_id", unique=True),
        CheckConstraint("outcome IN ('settled', 'rejected')", name="outcome_known"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    payment_id: Mapped[int] = mapped_column(ForeignKey("payment.id"))
    outcome: Mapped[str] = mapped_column(String(8))
    note: Mapped[str | None] = mapped_column(Text)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class MoneyQuarterTotal(Model):
    """Payments, refunds and voids by the UTC quarter hour they were made in and method: the dashboard's summary.

    Kept by statement triggers on payment and payment_reversal (migration 0013) in the writing
    transaction, never by Python; those rows are never changed, so inserts are all it follows.
    """

    __tablename__ = "money_quarter_total"

    quarter: Mapped[datetime] = mapped_column(primary_key=True)
    method: Mapped[str] = mapped_column(String(16), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8), primary_key=True)  # payment, refund or void
    # 1 to 64: the writing backend's own row (concurrent desks never queue on one); 0: folded by the upkeep.
    shard: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    moves: Mapped[int] = mapped_column(BigInteger)
    cents: Mapped[int] = mapped_column(BigInteger)


class MoneyDoctorQuarterTotal(Model):
    """Payments by the UTC quarter hour they were made in and the visit's doctor: the cash-up's by doctor.

    Kept by a statement trigger on payment (migration 0016); doctor_id 0 stands for no visit (a sale).
    """

    __tablename__ = "money_doctor_quarter_total"

    quarter: Mapped[datetime] = mapped_column(primary_key=True)
    doctor_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    # 1 to 64: the writing backend's own row (concurrent desks never queue on one); 0: folded by the upkeep.
    shard: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    payments: Mapped[int] = mapped_column(BigInteger)
    cents: Mapped[int] = mapped_column(BigInteger)


class ChargeQuarterTotal(Model):
    """Charges by the UTC quarter hour they were made in and service code, less voided ones: the cash-up's by service.

    Kept by statement triggers on bill_line and bill_line_void (migration 0016).
    """

    __tablename__ = "charge_quarter_total"

    quarter: Mapped[datetime] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    # 1 to 64: the writing backend's own row (concurrent desks never queue on one); 0: folded by the upkeep.
    shard: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(200))
    quantity: Mapped[int] = mapped_column(BigInteger)
    cents: Mapped[int] = mapped_column(BigInteger)


class ServiceDayTotal(Model):
    """Charged and discounted per service by UTC day, void bills left out: the dashboard's by service.

    Kept by triggers on bill_line, bill_discount, bill_line_void and a bill's void (migration 0018);
    service_id 0 holds the discounts on whole bills.
    """

    __tablename__ = "service_day_total"

    day: Mapped[date] = mapped_column(primary_key=True)
    service_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    # 1 to 64: the writing backend's own row (concurrent desks never queue on one); 0: folded by the upkeep.
    shard: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    quantity: Mapped[int] = mapped_column(BigInteger)
    charged_cents: Mapped[int] = mapped_column(BigInteger)
    discount_cents: Mapped[int] = mapped_column(BigInteger)


class OutstandingTotal(Model):
    """Open and partly paid bills with a balance, counted and summed in shards (one per backend, mod 64).

    Kept by triggers on bill (migration 0016); the clinic's outstanding total is the sum of the shards.
    """

    __tablename__ = "outstanding_total"

    shard: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    bills: Mapped[int] = mapped_column(BigInteger)
    cents: Mapped[int] = mapped_column(BigInteger)
