"""The dashboard's report sections, one registry: the page shows each, and each has a CSV export.

A later figure is a new `Report` (its query, its section template, its CSV rows) in SCHEDULE_REPORTS
or MONEY_REPORTS.
Revenue by day, method and service and outstanding balances belong to the payments area:
when it lands, its queries get Report entries here (the dashboard is the last area, so it may
import portal.payments); until then the dashboard shows no money figures at all.
"""
from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from ..schedule.services import STATUS_LABELS, status_label
from . import queries
from .queries import DateRange


@dataclass(frozen=True)
class Context:
    """What every section is computed for: the clinic's today and the chosen range."""

    today: date
    span: DateRange


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

# Money: revenue by day, by payment method and by service, and outstanding balances. These are
# the payments area's figures (integer cents, from its own tables and queries); its Report
# entries go here when portal.payments exists. Empty until then: the page shows no money at all
# rather than a placeholder.
MONEY_REPORTS: tuple[Report, ...] = ()

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
