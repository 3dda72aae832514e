"""The dashboard's report sections, one registry: the page shows each, and each has a CSV export.

A later figure is a new `Report` (its query, its section template, its CSV rows) in SCHEDULE_REPORTS
or MONEY_REPORTS. Money is integer cents throughout: CSV cells are cents, the page shows them
through the `money` filter.
"""
from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from .. import clinic_time
from ..payments.forms import METHOD_LABELS
from ..schedule.services import STATUS_LABELS, status_label
from . import queries
from .queries import DateRange


@dataclass(frozen=True)
class Context:
    """What every section is computed for: the clinic's today and the chosen range."""

    today: date
    span: DateRange
    computed: dict = field(default_factory=dict, compare=False)  # figures several sections share

    def once(self, name: str, load: Callable[[], object]) -> object:
        """A figure computed at most once for this page (one statement feeding several sections)."""
        if name not in self.computed:
            self.computed[name] = load()
        return self.computed[name]


@dataclass(frozen=True)
class Report:
    """One section of the dashboard and its CSV export."""

    name: str  # in the export's URL: /dashboard/<name>.csv
    title: str
    template: str  # renders `data` on the page
    load: Callable[[Context], object]  # the section's figures: one statement
    columns: tuple[str, ...]
    rows: Callable[[object], Iterable[Sequence]]  # the same figures as CSV rows
    today: bool = False  # about today (else about the range)


def _status_rows(data) -> Iterable[Sequence]:
    return [(status_label(status), data.get(status, 0)) for status in STATUS_LABELS]


def _doctor_rows(data) -> Iterable[Sequence]:
    return [(r.doctor, r.appointments, r.expected, r.in_clinic, r.completed, r.no_show, r.cancelled)
            for r in data]


def _wait_rows(data) -> Iterable[Sequence]:
    figures = [("patients seen after check-in", data.seen), ("mean wait (min)", data.mean),
               ("median wait (min)", data.median), ("90th percentile wait (min)", data.p90),
               ("longest wait (min)", data.longest), ("waiting now", data.waiting_now),
               ("longest wait so far of those waiting now (min)", data.longest_waiting_now)]
    return figures + [(f"waited {label}", count) for label, count in data.bands]


def _rate_rows(data) -> Iterable[Sequence]:
    rows = [(r.bucket, r.appointments, r.cancelled, r.cancelled_by_patient, r.cancelled_by_clinic,
             r.cancellation_rate, r.outcomes, r.no_show, r.no_show_rate) for r in data.rows]
    t = data.total
    if t.appointments:
        rows.append(("total", t.appointments, t.cancelled, t.cancelled_by_patient, t.cancelled_by_clinic,
                     t.cancellation_rate, t.outcomes, t.no_show, t.no_show_rate))
    return rows


def _utilisation_rows(data) -> Iterable[Sequence]:
    doctors, total = data
    rows = [(r.doctor, r.available, r.booked, r.blocked, r.utilisation) for r in doctors]
    if total.available or total.blocked:
        rows.append(("all doctors", total.available, total.booked, total.blocked, total.utilisation))
    return rows


def _patient_rows(data) -> Iterable[Sequence]:
    return [(r.bucket, r.patients) for r in data.rows] + [("total", data.total.patients)]


SCHEDULE_REPORTS: tuple[Report, ...] = (
    Report("today-by-status", "Today's appointments by status", "dashboard/_by_status.html",
           lambda c: queries.by_status(c.today), ("status", "appointments"), _status_rows, today=True),
    Report("today-by-doctor", "Today's appointments by doctor", "dashboard/_by_doctor.html",
           lambda c: queries.by_doctor(c.today),
           ("doctor", "appointments", "expected", "in clinic", "completed", "no show", "cancelled"),
           _doctor_rows, today=True),
    # Today's waiting room (a year of visits is 100,000 lookups: too slow for a page, see bench/dashboard.py).
    Report("waiting-times", "Today's waiting-room times", "dashboard/_waits.html",
           lambda c: queries.waits(DateRange(c.today, c.today)), ("figure", "value"), _wait_rows, today=True),
    Report("attendance", "Cancellations and no-shows", "dashboard/_rates.html",
           lambda c: queries.rates(c.span),
           ("period starting", "appointments", "cancelled", "cancelled by patient", "cancelled by clinic",
            "cancellation rate %", "reached an outcome", "no show", "no-show rate %"), _rate_rows),
    Report("utilisation", "Doctor utilisation", "dashboard/_utilisation.html",
           lambda c: queries.utilisation(c.span),
           ("doctor", "slots offered", "slots booked", "slots blocked", "utilisation %"), _utilisation_rows),
    Report("new-patients", "New patients", "dashboard/_new_patients.html",
           lambda c: queries.new_patients(c.span), ("period starting", "new patients"), _patient_rows),
)

def _revenue(context: Context) -> queries.Revenue:
    return context.once("revenue", lambda: queries.revenue(context.span))  # type: ignore[return-value]


def _revenue_day_rows(data) -> Iterable[Sequence]:
    rows = [(r.bucket, r.payments, r.taken_cents, r.refunded_cents, r.voided_cents, r.net_cents)
            for r in data.by_bucket.rows]
    t = data.total
    return rows + [("total", t.payments, t.taken_cents, t.refunded_cents, t.voided_cents, t.net_cents)]


def _revenue_method_rows(data) -> Iterable[Sequence]:
    rows = [(METHOD_LABELS[r.method], r.payments, r.taken_cents, r.refunded_cents, r.voided_cents, r.net_cents)
            for r in data.by_method]
    t = data.total
    return rows + [("total", t.payments, t.taken_cents, t.refunded_cents, t.voided_cents, t.net_cents)]


def _service_rows(data) -> Iterable[Sequence]:
    services, total = data
    rows = [(r.code or "", r.name, r.quantity, r.charged_cents, r.discount_cents, r.net_cents) for r in services]
    return rows + [("", "total", total.quantity, total.charged_cents, total.discount_cents, total.net_cents)]


def _outstanding_rows(data) -> Iterable[Sequence]:
    rows: list[Sequence] = [("bills with a balance", data.bills), ("owed (cents)", data.cents),
                            ("oldest opened", clinic_time.local(data.oldest_at).date() if data.oldest_at else None)]
    for label, bills, cents in data.bands:
        rows += [(f"bills opened {label} ago", bills), (f"owed on bills opened {label} ago (cents)", cents)]
    return rows


MONEY_COLUMNS = ("payments", "taken (cents)", "refunded (cents)", "voided (cents)", "net (cents)")

# Money: revenue by day, by payment method and by service, and outstanding balances (integer cents).
MONEY_REPORTS: tuple[Report, ...] = (
    Report("revenue-by-day", "Revenue", "dashboard/_revenue_by_day.html", _revenue,
           ("period starting",) + MONEY_COLUMNS, _revenue_day_rows),
    Report("revenue-by-method", "Revenue by payment method", "dashboard/_revenue_by_method.html", _revenue,
           ("method",) + MONEY_COLUMNS, _revenue_method_rows),
    Report("revenue-by-service", "Charged by service", "dashboard/_revenue_by_service.html",
           lambda c: queries.by_service(c.span),
           ("code", "service", "quantity", "charged (cents)", "discounted (cents)", "net (cents)"), _service_rows),
    Report("outstanding", "Outstanding balances", "dashboard/_outstanding.html",
           lambda c: queries.outstanding(), ("figure", "value"), _outstanding_rows, today=True),
)

REPORTS: tuple[Report, ...] = SCHEDULE_REPORTS + MONEY_REPORTS
BY_NAME = {report.name: report for report in REPORTS}

# A cell a spreadsheet would run as a formula (OWASP's list): shown as text with a leading quote.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> object:
    """A value as a CSV cell that no spreadsheet evaluates."""
    if value is None:
        return ""
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def to_csv(report: Report, data: object) -> str:
    """The report's header and rows as CSV text (RFC 4180 quoting, CRLF line ends)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([csv_cell(c) for c in report.columns])
    for row in report.rows(data):
        writer.writerow([csv_cell(value) for value in row])
    return out.getvalue()


def points(series: queries.Series, buckets: list[date], attribute: str) -> list[tuple[date, object]]:
    """A series' value for every bucket of the range (None where the range had no rows)."""
    by_bucket = {row.bucket: getattr(row, attribute) for row in series.rows}
    return [(bucket, by_bucket.get(bucket)) for bucket in buckets]


def bars(rows: Iterable, label: str, value: str, css: str = "") -> list[tuple[str, object, str]]:
    """(label, value, css class) items for a bar chart, from aggregate rows."""
    return [(getattr(row, label), getattr(row, value), css) for row in rows]
