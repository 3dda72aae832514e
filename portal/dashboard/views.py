"""Dashboard views: the page of report sections and each report's CSV export (admin only).

Every figure is an aggregate (counts, rates, minutes, doctors' names): no patient is shown,
so these reads write no audit event.
"""
from __future__ import annotations

from flask import make_response, request, url_for

from .. import clinic_time, validation
from ..auth.access import roles
from ..auth.roles import ADMINS
from ..domain import BadInput
from ..money import format_cents
from ..web import render
from . import bp, queries, reports
from .reports import Context


@bp.context_processor
def dashboard_helpers():
    return {"statuses": list(reports.STATUS_LABELS), "status_label": reports.status_label, "bars": reports.bars,
            "band_bars": lambda bands: [(label, count, "wait") for label, count in bands],
            "money_text": format_cents,
            "method_bars": lambda rows: [(reports.METHOD_LABELS[r.method], r.net_cents, "money") for r in rows],
            "age_bars": lambda bands: [(f"{label} ago", cents, "owed") for label, _, cents in bands]}


def _context() -> Context:
    """Today and the range asked for by ?from=&to= (YYYY-MM-DD); a bad range is a BadInput."""
    first = validation.day(request.args.get("from"), "from", field="from")
    last = validation.day(request.args.get("to"), "to", field="to")
    return Context(clinic_time.today(), queries.date_range(first, last))


@bp.route("/")
@roles(ADMINS)
def index():
    error = None
    try:
        context = _context()
    except BadInput as refused:  # the page still shows, with the default range and the reason
        error = refused
        context = Context(clinic_time.today(), queries.date_range(None, None))
    sections = [(report, report.load(context)) for report in reports.REPORTS]
    span, buckets = context.span, queries.buckets(context.span)
    asked = {"from": span.first.isoformat(), "to": span.last.isoformat()}
    csv_urls = {report.name: url_for("dashboard.export", report=report.name, **asked)  # type: ignore[arg-type]
                for report in reports.REPORTS}
    return render("dashboard/index.html", status=error.status if error else 200, context=context,
                  sections=sections, error=error, max_days=queries.MAX_RANGE_DAYS, csv_urls=csv_urls,
                  points=lambda series, attribute: reports.points(series, buckets, attribute))


@bp.route(f"/<any({', '.join(map(repr, reports.BY_NAME))}):report>.csv")
@roles(ADMINS)
def export(report: str):
    chosen = reports.BY_NAME[report]
    context = _context()
    body = reports.to_csv(chosen, chosen.load(context))
    span = context.span
    period = context.today.isoformat() if chosen.today else f"{span.first.isoformat()}_{span.last.isoformat()}"
    response = make_response(body, 200)
    response.headers["Content-Type"] = "text/csv; charset=utf-8"
    response.headers["Content-Disposition"] = f'attachment; filename="kliniki-{report}-{period}.csv"'
    return response
