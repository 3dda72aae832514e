"""Reads for the payments pages: one bounded, indexed statement per list; figures from bill_balance."""
from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from .. import clinic_time
from ..db import Page, fetch, page_size, parse_time_cursor, time_cursor
from ..models.payments import METHODS

OUTSTANDING = ("open", "partly_paid")
MAX_LINES = 200


def _page(rows: list, limit: int, at: str = "opened_at", key: str = "id") -> Page:
    more = len(rows) > limit
    rows = rows[:limit]
    last = rows[-1] if more and rows else None
    return Page(rows, time_cursor(getattr(last, at), getattr(last, key)) if last is not None else None)


def _keyset(cursor: str | None) -> dict[str, Any]:
    parsed = parse_time_cursor(cursor)
    return {"c_at": parsed[0] if parsed else None, "c_id": parsed[1] if parsed else None}


BILL = """
SELECT b.id, b.patient_id, b.appointment_id, b.status, b.opened_at, b.voided_at, b.void_reason,
       v.charged_cents, v.discount_cents, v.total_cents, v.paid_cents, v.balance_cents, v.voided_cents,
       p.file_number, p.first_name, p.last_name, p.phone,
       a.starts_at AS visit_at, d.name AS doctor_name, u.full_name AS opened_by_name
FROM bill b
JOIN bill_balance v ON v.bill_id = b.id
JOIN patient p ON p.id = b.patient_id
LEFT JOIN appointment a ON a.id = b.appointment_id
LEFT JOIN doctor d ON d.id = a.doctor_id
LEFT JOIN staff_user u ON u.id = b.opened_by
WHERE b.id = :bill_id
"""

LINES = """
SELECT l.id, l.code, l.name, l.unit_cents, l.quantity, l.line_cents, l.source, l.created_at,
       coalesce((SELECT sum(amount_cents) FROM bill_discount d WHERE d.bill_line_id = l.id), 0)::bigint
           AS discount_cents,
       v.reason AS void_reason, v.created_at AS voided_at, vu.full_name AS voided_by_name
FROM bill_line l LEFT JOIN bill_line_void v ON v.bill_line_id = l.id LEFT JOIN staff_user vu ON vu.id = v.actor_id
WHERE l.bill_id = :bill_id ORDER BY l.id LIMIT :limit
"""

DISCOUNTS = """
SELECT d.id, d.bill_line_id, d.amount_cents, d.reason, d.created_at, l.name AS line_name, u.full_name AS given_by_name
FROM bill_discount d LEFT JOIN bill_line l ON l.id = d.bill_line_id LEFT JOIN staff_user u ON u.id = d.given_by
WHERE d.bill_id = :bill_id ORDER BY d.id LIMIT :limit
"""

PAYMENT_COLUMNS = """
p.id, p.bill_id, p.method, p.amount_cents, p.tendered_cents, p.change_cents, p.reference, p.mpesa_code, p.insurer,
p.member_number, p.preauth_number, p.receipt_number, p.created_at, p.shift_id, u.full_name AS cashier_name,
coalesce((SELECT sum(amount_cents) FROM payment_reversal r WHERE r.payment_id = p.id), 0)::bigint AS reversed_cents,
EXISTS (SELECT 1 FROM payment_reversal r WHERE r.payment_id = p.id AND r.kind = 'void') AS voided,
CASE WHEN p.method = 'insurance' THEN coalesce(
    (SELECT outcome FROM insurance_claim_outcome c WHERE c.payment_id = p.id), 'claimed') END AS claim_status
"""

PAYMENTS = f"""
SELECT {PAYMENT_COLUMNS}
FROM payment p LEFT JOIN staff_user u ON u.id = p.cashier_id
WHERE p.bill_id = :bill_id ORDER BY p.id LIMIT :limit
"""

# One payment with its bill's new figures: what the answer to a posting shows.
POSTED = f"""
SELECT {PAYMENT_COLUMNS},
       v.charged_cents, v.discount_cents, v.total_cents, v.paid_cents, v.balance_cents, v.voided_cents,
       v.status AS bill_status
FROM payment p JOIN bill_balance v ON v.bill_id = p.bill_id LEFT JOIN staff_user u ON u.id = p.cashier_id
WHERE p.id = :payment_id
"""

REVERSALS = """
SELECT r.id, r.payment_id, r.kind, r.amount_cents, r.reason, r.created_at, p.receipt_number, p.method,
       u.full_name AS actor_name
FROM payment_reversal r JOIN payment p ON p.id = r.payment_id LEFT JOIN staff_user u ON u.id = r.actor_id
WHERE r.bill_id = :bill_id ORDER BY r.id LIMIT :limit
"""


def bill(session: Session, bill_id: int):
    """The bill's header and figures, or None."""
    rows = fetch(session, BILL, {"bill_id": bill_id})
    return rows[0] if rows else None


def posted(session: Session, payment_id: int):
    """A just-posted payment's row and its bill's figures (status as `bill_status`)."""
    return fetch(session, POSTED, {"payment_id": payment_id})[0]


def bill_detail(session: Session, bill_id: int) -> dict[str, list]:
    """The bill's lines, discounts, payments and reversals (each bounded)."""
    params = {"bill_id": bill_id, "limit": MAX_LINES}
    return {"lines": fetch(session, LINES, params), "discounts": fetch(session, DISCOUNTS, params),
            "payments": fetch(session, PAYMENTS, params), "reversals": fetch(session, REVERSALS, params)}


OUTSTANDING_PAGE = """
SELECT b.id, b.opened_at, b.status, v.total_cents, v.paid_cents, v.balance_cents,
       p.file_number, p.first_name, p.last_name
FROM bill b
JOIN bill_balance v ON v.bill_id = b.id
JOIN patient p ON p.id = b.patient_id
WHERE b.status IN ('open', 'partly_paid')
  AND (CAST(:c_at AS timestamptz) IS NULL OR (b.opened_at, b.id) < (CAST(:c_at AS timestamptz), :c_id))
ORDER BY b.opened_at DESC, b.id DESC
LIMIT :limit
"""


def outstanding_bills(session: Session, cursor: str | None, limit: object) -> Page:
    """Open and partly paid bills, newest first, keyset-paged."""
    size = page_size(limit)
    rows = fetch(session, OUTSTANDING_PAGE, {**_keyset(cursor), "limit": size + 1})
    return _page(rows, size)


PATIENT_BALANCE = """
SELECT coalesce(sum(balance_cents), 0)::bigint AS owed, count(*) AS bills
FROM bill WHERE patient_id = :patient_id AND status IN ('open', 'partly_paid')
"""


def patient_balance(session: Session, patient_id: int) -> int:
    """What the patient owes across their open bills (cents)."""
    return fetch(session, PATIENT_BALANCE, {"patient_id": patient_id})[0].owed


PATIENT_BALANCES = """
SELECT patient_id, coalesce(sum(balance_cents), 0)::bigint AS owed
FROM bill WHERE patient_id = ANY(CAST(:patient_ids AS bigint[])) AND status IN ('open', 'partly_paid')
GROUP BY patient_id
"""


def patient_balances(session: Session, patient_ids: list[int]) -> dict[int, int]:
    """What each of a list's patients owes on open bills (cents; 0 for none), in one statement."""
    owed = {patient_id: 0 for patient_id in patient_ids}
    if owed:
        owed.update({row.patient_id: row.owed
                     for row in fetch(session, PATIENT_BALANCES, {"patient_ids": list(owed)})})
    return owed


PATIENT_BILLS = """
SELECT b.id, b.opened_at, b.status, v.total_cents, v.balance_cents
FROM bill b JOIN bill_balance v ON v.bill_id = b.id
WHERE b.patient_id = :patient_id ORDER BY b.opened_at DESC, b.id DESC LIMIT 20
"""


def patient_bills(session: Session, patient_id: int) -> list:
    """The patient's 20 latest bills."""
    return fetch(session, PATIENT_BILLS, {"patient_id": patient_id})


SERVICE_OPTIONS = """
SELECT id, code, name, category, price_cents, min_cents, max_cents, is_active
FROM service
WHERE (:active_only = false OR is_active)
  AND (CAST(:after_name AS text) IS NULL OR (name, id) > (CAST(:after_name AS text), :after_id))
ORDER BY name, id LIMIT :limit
"""


def services(session: Session, active_only: bool = True, after: tuple[str, int] | None = None,
             limit: int = 100) -> list:
    """Price list entries by name (at most 100 a page)."""
    return fetch(session, SERVICE_OPTIONS, {"active_only": active_only, "after_name": after[0] if after else None,
                                            "after_id": after[1] if after else None, "limit": page_size(limit)})


def service(session: Session, service_id: int):
    rows = fetch(session, "SELECT id, code, name, category, price_cents, min_cents, max_cents, is_active "
                          "FROM service WHERE id = :id", {"id": service_id})
    return rows[0] if rows else None


RECEIPT = """
SELECT p.id, p.bill_id, p.method, p.amount_cents, p.tendered_cents, p.change_cents, p.reference, p.mpesa_code,
       p.insurer, p.member_number, p.preauth_number, p.receipt_number, p.created_at,
       u.full_name AS cashier_name,
       EXISTS (SELECT 1 FROM payment_reversal r WHERE r.payment_id = p.id AND r.kind = 'void') AS voided
FROM payment p LEFT JOIN staff_user u ON u.id = p.cashier_id WHERE p.id = :payment_id
"""


def receipt(session: Session, payment_id: int):
    rows = fetch(session, RECEIPT, {"payment_id": payment_id})
    return rows[0] if rows else None


SHIFTS = """
SELECT s.id, s.cashier_id, s.opened_at, s.closed_at, s.opening_float_cents, s.close_note, u.full_name AS cashier_name
FROM cash_shift s JOIN staff_user u ON u.id = s.cashier_id
WHERE (CAST(:cashier_id AS bigint) IS NULL OR s.cashier_id = :cashier_id)
  AND (CAST(:c_at AS timestamptz) IS NULL OR (s.opened_at, s.id) < (CAST(:c_at AS timestamptz), :c_id))
ORDER BY s.opened_at DESC, s.id DESC LIMIT :limit
"""


def shifts(session: Session, cashier_id: int | None, cursor: str | None, limit: object) -> Page:
    """Shifts, newest first: every one (cashier_id None, for admin) or one cashier's."""
    size = page_size(limit)
    rows = fetch(session, SHIFTS, {"cashier_id": cashier_id, **_keyset(cursor), "limit": size + 1})
    return _page(rows, size)


def shift(session: Session, shift_id: int):
    rows = fetch(session, "SELECT s.*, u.full_name AS cashier_name FROM cash_shift s "
                          "JOIN staff_user u ON u.id = s.cashier_id WHERE s.id = :s", {"s": shift_id})
    return rows[0] if rows else None


def shift_counts(session: Session, shift_id: int) -> list:
    return fetch(session, "SELECT method, expected_cents, counted_cents, counted_cents - expected_cents AS "
                          "difference_cents FROM cash_shift_count WHERE shift_id = :s ORDER BY id", {"s": shift_id})


SHIFT_PAYMENTS = """
SELECT p.id, p.bill_id, p.method, p.amount_cents, p.receipt_number, p.created_at
FROM payment p WHERE p.shift_id = :s ORDER BY p.created_at, p.id LIMIT 100
"""


def shift_payments(session: Session, shift_id: int) -> list:
    return fetch(session, SHIFT_PAYMENTS, {"s": shift_id})


# ---- the end-of-day report -------------------------------------------------

# The day's money by method, its totals and its payments by doctor come from the summaries the
# payment and reversal triggers keep by UTC quarter hour (migrations 0013 and 0016): about 400 rows a
# day instead of every payment of it. Every zone's offset is whole quarter hours, so the clinic's
# day is whole quarters.
BY_METHOD = """
WITH day AS (
    SELECT method, sum(cents) FILTER (WHERE kind = 'payment') AS taken,
           sum(cents) FILTER (WHERE kind <> 'payment') AS reversed
    FROM money_quarter_total WHERE quarter >= :start AND quarter < :end GROUP BY method)
SELECT m.method, coalesce(d.taken, 0)::bigint AS taken_cents, coalesce(d.reversed, 0)::bigint AS reversed_cents
FROM unnest(CAST(:methods AS text[])) WITH ORDINALITY AS m(method, n)
LEFT JOIN day d ON d.method = m.method
ORDER BY m.n
"""

DAY_TOTALS = """
WITH day AS (
    SELECT coalesce(sum(cents) FILTER (WHERE kind = 'payment'), 0) AS taken,
           coalesce(sum(cents) FILTER (WHERE kind <> 'payment'), 0) AS reversed
    FROM money_quarter_total WHERE quarter >= :start AND quarter < :end)
SELECT taken::bigint AS taken_cents, reversed::bigint AS reversed_cents, (taken - reversed)::bigint AS net_cents
FROM day
"""

# A payment counts for the doctor of its visit when it was made; doctor 0 is a sale without a visit.
BY_DOCTOR = """
WITH day AS (
    SELECT doctor_id, sum(payments) AS payments, sum(cents) AS cents FROM money_doctor_quarter_total
    WHERE quarter >= :start AND quarter < :end GROUP BY doctor_id)
SELECT coalesce(d.name, 'No visit (sales)') AS doctor, day.payments::bigint AS payments, day.cents::bigint AS cents
FROM day LEFT JOIN doctor d ON d.id = day.doctor_id
ORDER BY cents DESC LIMIT 100
"""

# Charges by service from the summary the line and charge-void triggers keep (a voided charge was a mistake).
BY_SERVICE = """
SELECT code, min(name) AS name, sum(quantity)::bigint AS quantity, sum(cents)::bigint AS cents
FROM charge_quarter_total
WHERE quarter >= :start AND quarter < :end
GROUP BY code HAVING sum(quantity) > 0
ORDER BY cents DESC LIMIT 100
"""

REVERSALS_DAY = """
SELECT r.id, r.kind, r.amount_cents, r.reason, r.created_at, r.method, r.bill_id, x.receipt_number,
       u.full_name AS actor_name
FROM payment_reversal r
CROSS JOIN LATERAL (SELECT receipt_number FROM payment p WHERE p.id = r.payment_id LIMIT 1) x
LEFT JOIN staff_user u ON u.id = r.actor_id
WHERE r.created_at >= :start AND r.created_at < :end
UNION ALL
SELECT v.id, 'charge void', v.amount_cents, v.reason, v.created_at, NULL, v.bill_id,
       l.code || ' ' || l.name || ' on B' || v.bill_id, u.full_name
FROM bill_line_void v JOIN bill_line l ON l.id = v.bill_line_id LEFT JOIN staff_user u ON u.id = v.actor_id
WHERE v.created_at >= :start AND v.created_at < :end
ORDER BY created_at, id LIMIT 500
"""

# Open and partly paid bills with a balance, from the shards the bill triggers keep (migration 0016).
OUTSTANDING_TOTAL = """
SELECT coalesce(sum(bills), 0)::bigint AS bills, coalesce(sum(cents), 0)::bigint AS cents FROM outstanding_total
"""


def day_report(session: Session, day: date) -> dict[str, Any]:
    """The day's cash-up: by method, by doctor, by service, reversals, what is outstanding."""
    start, end = clinic_time.day_bounds(day)
    window = {"start": start, "end": end}
    by_method = fetch(session, BY_METHOD, {**window, "methods": list(METHODS)})
    return {
        "day": day, "by_method": by_method,
        "totals": fetch(session, DAY_TOTALS, window)[0],
        "by_doctor": fetch(session, BY_DOCTOR, window),
        "by_service": fetch(session, BY_SERVICE, window),
        "reversals": fetch(session, REVERSALS_DAY, window),
        "outstanding": fetch(session, OUTSTANDING_TOTAL, {})[0],
    }


MPESA_QUEUE = """
SELECT id, trans_id, amount_cents, bill_ref, msisdn, trans_time, payer_name, queue_reason, received_at
FROM mpesa_confirmation
WHERE status = 'queued'
  AND (CAST(:c_at AS timestamptz) IS NULL OR (received_at, id) < (CAST(:c_at AS timestamptz), :c_id))
ORDER BY received_at DESC, id DESC LIMIT :limit
"""


def mpesa_queue(session: Session, cursor: str | None, limit: object) -> Page:
    """M-Pesa confirmations waiting for reception to allocate them, newest first."""
    size = page_size(limit)
    rows = fetch(session, MPESA_QUEUE, {**_keyset(cursor), "limit": size + 1})
    return _page(rows, size, at="received_at")
