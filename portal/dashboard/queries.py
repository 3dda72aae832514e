"""The dashboard's figures: each one statement that PostgreSQL aggregates over an index range.

No statement returns more rows than its groups (statuses, doctors, days or weeks of a range of
at most MAX_RANGE_DAYS); Python only lays the aggregates out. Totals come from the same
statement (GROUP BY ROLLUP), never from adding rows up here.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

from .. import clinic_time
from ..db import AnySession, fetch, report_session
from ..domain import BadInput
from ..models.payments import METHODS

MAX_RANGE_DAYS = 366
DEFAULT_RANGE_DAYS = 30
WEEKLY_FROM_DAYS = 63  # a longer range is charted by week, so a chart has at most 53 bars
MAX_DOCTORS = 500  # a clinic has dozens; the bound only keeps every list finite
# Waiting-room time bands in minutes: [low, high) each; the last is open-ended.
WAIT_BANDS = ((0, 5), (5, 15), (15, 30), (30, 60), (60, None))
# Outstanding bills' age bands in days since opened: [low, high) each; the last is open-ended.
AGE_BANDS = ((0, 30), (30, 60), (60, 90), (90, None))
MAX_SERVICES = 500  # a price list has dozens to hundreds of entries
ACTIVE_STATUSES = ("pending_review", "booked", "confirmed", "checked_in", "in_consultation")
# Appointments that reached an outcome: the patient came (and was seen or is being seen) or did not.
OUTCOME_STATUSES = ("checked_in", "in_consultation", "completed", "no_show")


@dataclass(frozen=True)
class DateRange:
    """Inclusive clinic-local days [first, last]."""

    first: date
    last: date

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    @property
    def bounds(self) -> tuple[datetime, datetime]:
        """UTC instants: the start of the first day and the start of the day after the last."""
        return clinic_time.day_bounds(self.first)[0], clinic_time.day_bounds(self.last)[1]

    @property
    def unit(self) -> str:
        """The bucket a chart of this range uses: 'day' or 'week' (ISO weeks, from Monday)."""
        return "week" if self.days >= WEEKLY_FROM_DAYS else "day"

    def params(self) -> dict:
        start, end = self.bounds
        return {"start": start, "end": end, "tz": clinic_time.zone_name(), "unit": self.unit,
                "first": self.first, "last": self.last, "step": f"1 {self.unit}"}


# The range's buckets (clinic-local days, or weeks from Monday), each as the UTC instants [from_at, to_at)
# it covers, clipped to the range. A figure over a range counts each bucket's rows by an index range of
# their own: a plain aggregate per bucket, where grouping every row by its local day first (a hash of
# 136,000 appointments over a year) cost most of the year's dashboard.
BUCKETS = """bucket AS (
    SELECT b::date AS bucket,
           greatest(b AT TIME ZONE :tz, CAST(:start AS timestamptz)) AS from_at,
           least((b + CAST(:step AS interval)) AT TIME ZONE :tz, CAST(:end AS timestamptz)) AS to_at
    FROM generate_series(date_trunc(:unit, CAST(:first AS timestamp)), CAST(:last AS timestamp),
                         CAST(:step AS interval)) AS b
)"""


def date_range(first: date | None, last: date | None) -> DateRange:
    """The range a person asked for (default: the last DEFAULT_RANGE_DAYS days to today), checked."""
    last = last or ((first + timedelta(days=DEFAULT_RANGE_DAYS - 1)) if first else clinic_time.today())
    first = first or last - timedelta(days=DEFAULT_RANGE_DAYS - 1)
    if first > last:
        raise BadInput("The range starts after it ends: choose a “from” date on or before the “to” date.",
                       field="from")
    if (last - first).days + 1 > MAX_RANGE_DAYS:
        raise BadInput(f"Choose a range of at most {MAX_RANGE_DAYS} days.", field="to")
    return DateRange(first, last)


def _session(session: AnySession | None) -> AnySession:
    """Every dashboard query's session: the read replica's when one is configured (portal/db.py)."""
    return session if session is not None else report_session()


# ---- today --------------------------------------------------------------------

BY_STATUS_SQL = """
SELECT status, count(*) AS appointments
FROM appointment
WHERE starts_at >= :start AND starts_at < :end
GROUP BY status
ORDER BY status"""


def by_status(day: date, session: AnySession | None = None) -> dict[str, int]:
    """A day's appointments counted by status (statuses with none are absent)."""
    start, end = clinic_time.day_bounds(day)
    rows = fetch(_session(session), BY_STATUS_SQL, {"start": start, "end": end})
    return {row.status: row.appointments for row in rows}


BY_DOCTOR_SQL = """
SELECT a.doctor_id, d.name AS doctor,
       count(*) AS appointments,
       count(*) FILTER (WHERE a.status IN ('pending_review', 'booked', 'confirmed')) AS expected,
       count(*) FILTER (WHERE a.status IN ('checked_in', 'in_consultation')) AS in_clinic,
       count(*) FILTER (WHERE a.status = 'completed') AS completed,
       count(*) FILTER (WHERE a.status = 'no_show') AS no_show,
       count(*) FILTER (WHERE a.status = 'cancelled') AS cancelled
FROM appointment a
JOIN doctor d ON d.id = a.doctor_id
WHERE a.starts_at >= :start AND a.starts_at < :end
GROUP BY a.doctor_id, d.name
ORDER BY d.name, a.doctor_id
LIMIT :limit"""


def by_doctor(day: date, session: AnySession | None = None) -> list:
    """A day's appointments per doctor who has any: total and by stage."""
    start, end = clinic_time.day_bounds(day)
    return fetch(_session(session), BY_DOCTOR_SQL, {"start": start, "end": end, "limit": MAX_DOCTORS})


# ---- waiting room -----------------------------------------------------------------

# Check-in to consultation start, from the appointment's status history: the last check-in
# before the first consultation start (a check-in undone and redone counts from the later one).
WAITS_SQL = """
WITH wait AS (  -- only these statuses can have been checked in and not cancelled since
    SELECT a.status, v.checked_in_at, v.started_at,
           date_part('epoch', v.started_at - v.checked_in_at) / 60.0 AS minutes
    FROM appointment a
    CROSS JOIN LATERAL (
        SELECT max(e.at) FILTER (WHERE e.to_status = 'checked_in') AS checked_in_at,
               min(e.at) FILTER (WHERE e.to_status = 'in_consultation') AS started_at
        FROM appointment_event e
        WHERE e.appointment_id = a.id AND e.action = 'status'
          AND e.to_status IN ('checked_in', 'in_consultation')) v
    WHERE a.starts_at >= :start AND a.starts_at < :end
      AND a.status IN ('checked_in', 'in_consultation', 'completed')
      AND v.checked_in_at IS NOT NULL
)
SELECT count(minutes) FILTER (WHERE minutes >= 0) AS seen,
       round(avg(minutes) FILTER (WHERE minutes >= 0)::numeric, 1) AS mean_minutes,
       round((percentile_cont(0.5) WITHIN GROUP (ORDER BY minutes)
              FILTER (WHERE minutes >= 0))::numeric, 1) AS median_minutes,
       round((percentile_cont(0.9) WITHIN GROUP (ORDER BY minutes)
              FILTER (WHERE minutes >= 0))::numeric, 1) AS p90_minutes,
       round(max(minutes) FILTER (WHERE minutes >= 0)::numeric, 1) AS max_minutes,
       count(*) FILTER (WHERE status = 'checked_in') AS waiting_now,
       round((date_part('epoch', CAST(:now AS timestamptz) - min(checked_in_at)
              FILTER (WHERE status = 'checked_in')) / 60.0)::numeric, 1) AS longest_waiting_minutes,
       {bands}
FROM wait"""
_BAND = "count(*) FILTER (WHERE minutes >= {low}{high}) AS band_{index}"
WAITS_SQL = WAITS_SQL.format(bands=",\n       ".join(
    _BAND.format(low=low, high=f" AND minutes < {high}" if high else "", index=index)
    for index, (low, high) in enumerate(WAIT_BANDS)))


@dataclass
class Waits:
    """Waiting-room figures over a range of days (minutes)."""

    seen: int
    mean: float | None
    median: float | None
    p90: float | None
    longest: float | None
    waiting_now: int
    longest_waiting_now: float | None
    bands: list[tuple[str, int]]


def band_label(low: int, high: int | None) -> str:
    return f"{low}–{high} min" if high else f"{low}+ min"


def waits(span: DateRange, session: AnySession | None = None) -> Waits:
    """How long patients waited from check-in to the consultation's start, over the range."""
    start, end = span.bounds
    row = fetch(_session(session), WAITS_SQL, {"start": start, "end": end, "now": clinic_time.now()})[0]

    def number(value) -> float | None:
        return float(value) if value is not None else None

    bands = [(band_label(low, high), getattr(row, f"band_{index}"))
             for index, (low, high) in enumerate(WAIT_BANDS)]
    return Waits(row.seen, number(row.mean_minutes), number(row.median_minutes), number(row.p90_minutes),
                 number(row.max_minutes), row.waiting_now, number(row.longest_waiting_minutes), bands)


# ---- over a range -------------------------------------------------------------------

# One row per day (or week) of the range with appointments, then the range's total (bucket NULL).
# From the summary appointment_quarter_count (migration 0013: kept by triggers in every appointment
# write), not the appointments: a year is about 18,000 summary rows instead of 136,000 appointments.
# Every zone's offset is whole quarter hours, so a quarter lies in one clinic-local day.
RATES_SQL = f"""
WITH {BUCKETS},
counted AS (
    SELECT b.bucket, q.status, q.cancelled_by, sum(q.appointments) AS n
    FROM bucket b JOIN appointment_quarter_count q ON q.quarter >= b.from_at AND q.quarter < b.to_at
    GROUP BY 1, 2, 3
)
SELECT bucket,
       coalesce(sum(n), 0)::bigint AS appointments,
       coalesce(sum(n) FILTER (WHERE status = 'cancelled'), 0)::bigint AS cancelled,
       coalesce(sum(n) FILTER (WHERE status = 'cancelled' AND cancelled_by = 'patient'), 0)::bigint
           AS cancelled_by_patient,
       coalesce(sum(n) FILTER (WHERE status = 'cancelled' AND cancelled_by = 'clinic'), 0)::bigint
           AS cancelled_by_clinic,
       coalesce(sum(n) FILTER (WHERE status IN ('checked_in', 'in_consultation', 'completed', 'no_show')), 0)::bigint
           AS outcomes,
       coalesce(sum(n) FILTER (WHERE status = 'no_show'), 0)::bigint AS no_show,
       round(100.0 * coalesce(sum(n) FILTER (WHERE status = 'cancelled'), 0) / nullif(sum(n), 0), 1)
           AS cancellation_rate,
       round(100.0 * coalesce(sum(n) FILTER (WHERE status = 'no_show'), 0)
             / nullif(sum(n) FILTER (WHERE status IN ('checked_in', 'in_consultation', 'completed', 'no_show')), 0),
             1) AS no_show_rate
FROM counted
WHERE n <> 0
GROUP BY ROLLUP (bucket)
ORDER BY bucket NULLS LAST"""


@dataclass
class Series:
    """Per-bucket rows of a range (buckets with none are absent) and the range's total row."""

    unit: str
    rows: list
    total: Any  # ROLLUP's grand total: there even for an empty range (counts 0, rates None)


def _series(rows: list, unit: str) -> Series:
    return Series(unit, [row for row in rows if row.bucket is not None],
                  next(row for row in rows if row.bucket is None))


def rates(span: DateRange, session: AnySession | None = None) -> Series:
    """Cancellations (of all appointments) and no-shows (of those that reached an outcome), by bucket."""
    return _series(fetch(_session(session), RATES_SQL, span.params()), span.unit)


# Booked of the slots a doctor offered (open or booked; blocked slots were never offered).
UTILISATION_SQL = """
SELECT s.doctor_id, d.name AS doctor,
       count(*) FILTER (WHERE s.status IN ('open', 'booked')) AS available,
       count(*) FILTER (WHERE s.status = 'booked') AS booked,
       count(*) FILTER (WHERE s.status = 'blocked') AS blocked,
       round(100.0 * count(*) FILTER (WHERE s.status = 'booked')
             / nullif(count(*) FILTER (WHERE s.status IN ('open', 'booked')), 0), 1) AS utilisation
FROM slot s
JOIN doctor d ON d.id = s.doctor_id
WHERE s.starts_at >= :start AND s.starts_at < :end
GROUP BY ROLLUP ((s.doctor_id, d.name))
ORDER BY s.doctor_id IS NULL, d.name, s.doctor_id
LIMIT :limit"""


def utilisation(span: DateRange, session: AnySession | None = None) -> tuple[list, Any]:
    """Per doctor with slots in the range: available and booked slots; and the clinic's total."""
    start, end = span.bounds
    rows = fetch(_session(session), UTILISATION_SQL, {"start": start, "end": end, "limit": MAX_DOCTORS + 1})
    return [row for row in rows if row.doctor_id is not None], next(row for row in rows if row.doctor_id is None)


NEW_PATIENTS_SQL = """
WITH """ + BUCKETS + """
SELECT bucket.bucket, coalesce(sum(c.patients), 0)::bigint AS patients
FROM bucket
CROSS JOIN LATERAL (SELECT count(*) AS patients FROM patient p
                    WHERE p.created_at >= bucket.from_at AND p.created_at < bucket.to_at) c
WHERE c.patients > 0
GROUP BY ROLLUP (bucket.bucket)
ORDER BY 1 NULLS LAST"""


def new_patients(span: DateRange, session: AnySession | None = None) -> Series:
    """Patients registered in the range, by day (or week), with the total."""
    return _series(fetch(_session(session), NEW_PATIENTS_SQL, span.params()), span.unit)


# ---- money (integer cents) ----------------------------------------------------------

# Money taken and given back over the range, each on the day it happened (as the cash-up counts it):
# payments in; refunds and voids out, by the method they went back through. From the summary
# money_quarter_total (migration 0013: kept by triggers on every payment and reversal insert), as
# the rates are from theirs: a year at clinic scale is 210,000 payments but about 30,000 summary rows.
REVENUE_SQL = f"""
WITH {BUCKETS},
bucketed AS (  -- each bucket's quarters by an index range: no time zone worked out per summary row
    SELECT b.bucket, t.method,
           sum(t.moves) FILTER (WHERE t.kind = 'payment') AS payments,
           sum(t.cents) FILTER (WHERE t.kind = 'payment') AS taken,
           sum(t.cents) FILTER (WHERE t.kind = 'refund') AS refunded,
           sum(t.cents) FILTER (WHERE t.kind = 'void') AS voided
    FROM bucket b JOIN money_quarter_total t ON t.quarter >= b.from_at AND t.quarter < b.to_at
    GROUP BY 1, 2
)
SELECT GROUPING(bucket, method) AS level, bucket, method,
       coalesce(sum(payments), 0)::bigint AS payments,
       coalesce(sum(taken), 0)::bigint AS taken_cents,
       coalesce(sum(refunded), 0)::bigint AS refunded_cents,
       coalesce(sum(voided), 0)::bigint AS voided_cents,
       (coalesce(sum(taken), 0) - coalesce(sum(refunded), 0) - coalesce(sum(voided), 0))::bigint AS net_cents
FROM bucketed
GROUP BY GROUPING SETS ((bucket), (method), ())
ORDER BY level, bucket, method"""


@dataclass
class Revenue:
    """Money in and back out over a range: by day (or week), by method (every method), and the total."""

    by_bucket: Series
    by_method: list
    total: Any


@dataclass(frozen=True)
class MethodRow:
    method: str
    payments: int
    taken_cents: int
    refunded_cents: int
    voided_cents: int
    net_cents: int


def revenue(span: DateRange, session: AnySession | None = None) -> Revenue:
    """Payments taken, refunded and voided, and the net, by bucket and by payment method."""
    rows = fetch(_session(session), REVENUE_SQL, span.params())
    total = next(row for row in rows if row.level == 3)
    found = {row.method: row for row in rows if row.level == 2}
    by_method = [found.get(method) or MethodRow(method, 0, 0, 0, 0, 0) for method in METHODS]
    return Revenue(Series(span.unit, [row for row in rows if row.level == 1], total), by_method, total)


# What was charged for each service over the range (lines by when they were charged), less the
# discounts given on its lines in the range; bills voided since are left out entirely. Discounts on
# a whole bill belong to no service: their row has no service. Payments are not split by service.
# The whole UTC days of the range come from the summary service_day_total (migration 0018, kept by
# triggers as lines, discounts and voids are written); only the range's partial days at either end
# (a clinic-local day is not a UTC day) read the rows themselves: a year is then about 20,000
# summary rows and two days of lines, where reading the year's 200,000 lines cost 33 ms.
BY_SERVICE_SQL = """
WITH void_bill AS (  -- few: a bill is voided only while nothing is paid on it
    SELECT id FROM bill WHERE status = 'void'
), edge (from_at, to_at) AS (  -- [start, whole days' start) and [whole days' end, end)
    VALUES (CAST(:start AS timestamptz), CAST(:whole_from AS timestamptz)),
           (CAST(:whole_to AS timestamptz), CAST(:end AS timestamptz))
), moves AS (
    SELECT nullif(t.service_id, 0) AS service_id, sum(t.quantity) AS quantity, sum(t.charged_cents) AS charged,
           sum(t.discount_cents) AS discounted
    FROM service_day_total t
    WHERE t.day >= (CAST(:whole_from AS timestamptz) AT TIME ZONE 'UTC')::date
      AND t.day < (CAST(:whole_to AS timestamptz) AT TIME ZONE 'UTC')::date
    GROUP BY 1
    UNION ALL
    SELECT l.service_id, sum(l.quantity), sum(l.line_cents), 0
    FROM edge e JOIN bill_line l ON l.created_at >= e.from_at AND l.created_at < e.to_at
    WHERE l.bill_id NOT IN (SELECT id FROM void_bill)
    GROUP BY l.service_id
    UNION ALL
    SELECT l.service_id, 0, 0, sum(d.amount_cents)
    FROM edge e JOIN bill_discount d ON d.created_at >= e.from_at AND d.created_at < e.to_at
    LEFT JOIN bill_line l ON l.id = d.bill_line_id
    WHERE d.bill_id NOT IN (SELECT id FROM void_bill)
    GROUP BY l.service_id
    UNION ALL  -- a charge voided by mistake leaves, with its discounts, on the day of its void
    SELECT l.service_id, -sum(l.quantity), -sum(l.line_cents),
           -coalesce(sum((SELECT sum(d.amount_cents) FROM bill_discount d WHERE d.bill_line_id = l.id)), 0)
    FROM edge e JOIN bill_line_void v ON v.created_at >= e.from_at AND v.created_at < e.to_at
    JOIN bill_line l ON l.id = v.bill_line_id
    WHERE v.bill_id NOT IN (SELECT id FROM void_bill)
    GROUP BY l.service_id
), per_service AS (
    SELECT GROUPING(service_id) AS level, service_id, sum(quantity) AS quantity, sum(charged) AS charged,
           sum(discounted) AS discounted
    FROM moves
    GROUP BY ROLLUP (service_id)
)
SELECT x.level, x.service_id, s.code, coalesce(s.name, 'Discounts on whole bills') AS name,
       coalesce(x.quantity, 0)::bigint AS quantity, coalesce(x.charged, 0)::bigint AS charged_cents,
       coalesce(x.discounted, 0)::bigint AS discount_cents,
       (coalesce(x.charged, 0) - coalesce(x.discounted, 0))::bigint AS net_cents
FROM per_service x
LEFT JOIN service s ON s.id = x.service_id
WHERE x.level = 1 OR x.quantity <> 0 OR x.charged <> 0 OR x.discounted <> 0
ORDER BY x.level DESC, net_cents DESC, s.code
LIMIT :limit"""


def whole_utc_days(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """The UTC midnights bounding the whole UTC days inside [start, end); both `end` when there are none."""
    start, end = start.astimezone(timezone.utc), end.astimezone(timezone.utc)
    midnight = start.replace(hour=0, minute=0, second=0, microsecond=0)
    first = midnight if midnight == start else midnight + timedelta(days=1)
    last = end.replace(hour=0, minute=0, second=0, microsecond=0)
    return (first, last) if first < last else (end, end)


def by_service(span: DateRange, session: AnySession | None = None) -> tuple[list, Any]:
    """Per service charged in the range: quantity, charged, discounted and net; and the range's total."""
    start, end = span.bounds
    whole_from, whole_to = whole_utc_days(start, end)
    rows = fetch(_session(session), BY_SERVICE_SQL, {"start": start, "end": end, "whole_from": whole_from,
                                                     "whole_to": whole_to, "limit": MAX_SERVICES + 1})
    return [row for row in rows if row.level == 0], rows[0]


# Bills with something still owed, now: how many, how much, the oldest, and by age.
# The count and total come from the shards the bill triggers keep (migration 0016), and only the
# bounded age bands read bills (those opened in the last AGE_BANDS[-1][0] days, from the partial
# index); the open-ended oldest band is the rest. Reading every bill still owed on cost 20-27 ms at
# clinic scale (75,000 of them).
OWED = "b.status IN ('open', 'partly_paid') AND b.balance_cents > 0"
OUTSTANDING_SQL = """
WITH kept AS (
    SELECT coalesce(sum(bills), 0)::bigint AS bills, coalesce(sum(cents), 0)::bigint AS cents FROM outstanding_total
), recent AS (
    SELECT {bands}
    FROM bill b
    WHERE {owed} AND b.opened_at > :opened_{rest_from}
)
SELECT kept.bills, kept.cents, (SELECT min(b.opened_at) FROM bill b WHERE {owed}) AS oldest_at, recent.*,
       kept.bills - ({recent_bills}) AS band_{rest}, kept.cents - ({recent_cents}) AS band_{rest}_cents
FROM kept, recent"""
# The bands' cut-offs are instants worked out here: an interval taken from a parameter in SQL was
# computed again for every bill (1 s for 71,000 outstanding bills).
_AGE_BAND = ("count(*) FILTER (WHERE {cond}) AS band_{index}, "
             "coalesce(sum(b.balance_cents) FILTER (WHERE {cond}), 0)::bigint AS band_{index}_cents")


def _age_condition(low: int, high: int | None) -> str:
    """Opened at least `low` and less than `high` days ago (:opened_<days> is that many days before now)."""
    parts = [f"b.opened_at <= :opened_{low}"] if low else []
    return " AND ".join(parts + ([f"b.opened_at > :opened_{high}"] if high else [])) or "true"


_BOUNDED = range(len(AGE_BANDS) - 1)
OUTSTANDING_SQL = OUTSTANDING_SQL.format(
    bands=",\n           ".join(_AGE_BAND.format(cond=_age_condition(*AGE_BANDS[index]), index=index)
                                for index in _BOUNDED),
    owed=OWED, rest=len(AGE_BANDS) - 1, rest_from=AGE_BANDS[-1][0],
    recent_bills=" + ".join(f"recent.band_{index}" for index in _BOUNDED),
    recent_cents=" + ".join(f"recent.band_{index}_cents" for index in _BOUNDED))


@dataclass
class Outstanding:
    """What patients owe now: open and partly paid bills with a balance, and by age."""

    bills: int
    cents: int
    oldest_at: datetime | None
    bands: list[tuple[str, int, int]]  # (label, bills, cents)


def outstanding(session: AnySession | None = None) -> Outstanding:
    """Bills still owed on: count, total, the oldest's opening, and by age in days."""
    now = clinic_time.now()
    cutoffs = {f"opened_{days}": now - timedelta(days=days) for band in AGE_BANDS for days in band if days}
    row = fetch(_session(session), OUTSTANDING_SQL, cutoffs)[0]
    bands = [(f"{low}–{high} days" if high else f"{low}+ days", getattr(row, f"band_{index}"),
              getattr(row, f"band_{index}_cents")) for index, (low, high) in enumerate(AGE_BANDS)]
    return Outstanding(row.bills, row.cents, row.oldest_at, bands)


def buckets(span: DateRange) -> list[date]:
    """Every bucket start of the range, so a chart shows the empty days too."""
    if span.unit == "day":
        return [span.first + timedelta(days=i) for i in range(span.days)]
    monday = span.first - timedelta(days=span.first.weekday())
    return [monday + timedelta(weeks=i) for i in range((span.last - monday).days // 7 + 1)]


STATEMENTS = {
    "by status": BY_STATUS_SQL, "by doctor": BY_DOCTOR_SQL, "waits": WAITS_SQL, "rates": RATES_SQL,
    "utilisation": UTILISATION_SQL, "new patients": NEW_PATIENTS_SQL,
    "revenue": REVENUE_SQL, "by service": BY_SERVICE_SQL, "outstanding": OUTSTANDING_SQL,
}
