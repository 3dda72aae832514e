"""Patient pages: search, registration, profile, edit, approval, assignment, list."""
from __future__ import annotations

from datetime import date, timedelta

from flask import request, url_for
from flask_login import current_user

from .. import clinic_time, validation
from ..audit import record_access
from ..auth.access import current_actor, roles
from ..auth.roles import PATIENT_READERS, PATIENT_WRITERS
from ..errors import fail
from ..web import redirect_to, render, render_fragment
from . import bp, services
from .ages import age_label
from .forms import FIELDS, LABELS, SEXES, check_field, parse_patient_form
from .search import MAX_RESULTS, MAX_TERM, parse_date, search_hits, search_patients

READERS = PATIENT_READERS
WRITERS = PATIENT_WRITERS


def _version() -> int:
    try:
        version = validation.integer(request.form.get("version"), "version", 1, 2**31 - 1)
    except validation.BadInput:
        fail(400, "This form's version is not valid. Reload the page and try again.")
    if version is None:
        fail(400, "This form is missing its version. Reload the page and try again.")
    return version


def _form_context(**context) -> dict:
    return {"labels": LABELS, "sexes": SEXES, **context}


@bp.route("/")
@roles(READERS)
def search_page():
    term = validation.search_term(request.args.get("q"), MAX_TERM)
    results = search_patients(term, MAX_RESULTS) if term.strip() else []
    record_access(current_actor(), "patient.search", [patient.id for patient in results])
    return render("patients/search.html", block="results", q=term, limit=MAX_RESULTS,
                  results=search_hits(results, clinic_time.today()),
                  profile_url=url_for("patients.profile", patient_id=0).removesuffix("0"))


@bp.route("/new", methods=["GET", "POST"])
@roles(WRITERS)
def register():
    if request.method == "GET":
        return render("patients/register.html", **_form_context(typed={}, errors={}))
    parsed = parse_patient_form(request.form, clinic_time.today())
    reason = request.form.get("duplicate_reason", "")
    context = _form_context(typed=parsed.typed, errors=parsed.errors, reason=reason[:500])
    if not parsed.ok:
        return render("patients/register.html", block="form", status=422, **context)
    try:
        patient = services.register_patient(parsed.clean, current_actor(), reason)
    except services.DuplicatesFound as found:
        return render("patients/register.html", block="form", status=409,
                      duplicates=found.duplicates, **context)
    except services.PatientError as error:
        return render("patients/register.html", block="form", status=422,
                      **{**context, "errors": {error.field or "duplicate_reason": error.message}})
    return redirect_to(url_for("patients.profile", patient_id=patient.id, registered=1))


@bp.route("/validate/<field>", methods=["POST"])
@roles(WRITERS)
def validate_field(field: str):
    if field not in FIELDS:
        fail(404, "There is no such field.")
    today = clinic_time.today()
    value, error = check_field(field, request.form.get(field, "") or "", today)
    duplicates = []
    if not error and field in ("phone", "first_name", "last_name", "date_of_birth"):
        parsed = parse_patient_form(request.form, today)
        try:
            exclude = validation.row_id(request.form.get("patient_id"), "patient")
        except validation.BadInput:
            exclude = None  # an unreadable id excludes nobody
        duplicates = services.find_duplicates(parsed.clean, exclude_id=exclude)
        record_access(current_actor(), "patient.duplicate_check", [patient.id for patient in duplicates])
    return render_fragment("patients/_field_error.html", name=field, error=error,
                           duplicates=duplicates)


@bp.route("/<int:patient_id>")
@roles(READERS)
def profile(patient_id: int):
    patient = services.open_record(patient_id, current_actor())
    staff = services.assignable_staff() if current_user.role in WRITERS else []
    names = services.staff_names([patient.approved_by_id, patient.assigned_to_id])
    return render("patients/profile.html", patient=patient, today=clinic_time.today(), staff=staff, names=names,
                  registered=request.args.get("registered") == "1")


@bp.route("/<int:patient_id>/appointments")
@roles(READERS)
def appointments(patient_id: int):
    patient = services.get_patient(patient_id)
    upcoming = request.args.get("when", "upcoming") != "past"
    page = services.appointments_page(patient.id, upcoming, request.args.get("cursor"),
                                      request.args.get("limit", 10))
    record_access(current_actor(), "patient.appointments", [patient.id], entity_id=patient.id,
                  detail={"when": "upcoming" if upcoming else "past"})
    return render_fragment("patients/_appointments.html", patient=patient, page=page,
                           upcoming=upcoming)


@bp.route("/<int:patient_id>/edit", methods=["GET", "POST"])
@roles(WRITERS)
def edit(patient_id: int):
    patient = services.get_patient(patient_id)
    if request.method == "GET":
        typed = {name: _shown(getattr(patient, name)) for name in services.EDITABLE}
        record_access(current_actor(), "patient.edit_form", [patient.id], entity_id=patient.id)
        return render("patients/edit.html", **_form_context(patient=patient, typed=typed,
                                                            errors={}, version=patient.version))
    version = _version()
    parsed = parse_patient_form(request.form, clinic_time.today())
    reason = request.form.get("duplicate_reason", "")
    context = _form_context(patient=patient, typed=parsed.typed, errors=parsed.errors,
                            version=version, reason=reason[:500])
    if not parsed.ok:
        return render("patients/edit.html", block="form", status=422, **context)
    try:
        services.update_patient(patient.id, version, parsed.clean, current_actor(), reason)
    except services.StaleEdit as stale:
        current = {name: _shown(getattr(stale.current, name)) for name in services.EDITABLE}
        return render("patients/edit.html", block="form", status=409,
                      **{**context, "stale": stale.message, "current": current,
                         "version": stale.current.version})
    except services.DuplicatesFound as found:
        return render("patients/edit.html", block="form", status=409, duplicates=found.duplicates, **context)
    except services.PatientError as error:
        return render("patients/edit.html", block="form", status=422,
                      **{**context, "errors": {error.field or "duplicate_reason": error.message}})
    return redirect_to(url_for("patients.profile", patient_id=patient.id))


def _shown(value) -> str:
    """A stored value as the form shows it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "on" if value else ""
    return value.isoformat() if isinstance(value, date) else str(value)


@bp.route("/<int:patient_id>/approve", methods=["POST"])
@roles(WRITERS)
def approve(patient_id: int):
    services.get_patient(patient_id)
    services.approve_patient(patient_id, _version(), current_actor())
    return redirect_to(url_for("patients.profile", patient_id=patient_id))


@bp.route("/<int:patient_id>/assign", methods=["POST"])
@roles(WRITERS)
def assign(patient_id: int):
    services.get_patient(patient_id)
    try:
        staff_id = validation.row_id(request.form.get("assigned_to_id"), "member of staff")
    except validation.BadInput:
        fail(422, "Choose a member of staff from the list.")
    services.assign_patient(patient_id, _version(), staff_id, current_actor())
    return redirect_to(url_for("patients.profile", patient_id=patient_id))


@bp.route("/list")
@roles(WRITERS)
def patient_list():
    args = request.args
    typed_from, typed_to = args.get("from", "")[:20], args.get("to", "")[:20]
    registered_from, registered_to = parse_date(typed_from), parse_date(typed_to)
    date_error = ("Dates are read as 2026-11-01 or 01/11/2026; the one that could not be read "
                  "was left out." if (typed_from and not registered_from)
                  or (typed_to and not registered_to) else None)
    filters = services.ListFilters(
        pending=args.get("pending") == "1",
        assigned_to_id=current_user.id if args.get("mine") == "1" else None,
        registered_from=clinic_time.day_start(registered_from) if registered_from else None,
        registered_before=clinic_time.day_start(registered_to + timedelta(days=1)) if registered_to else None)
    page = services.list_patients(filters, args.get("cursor"), args.get("limit", 25))
    record_access(current_actor(), "patient.list", [patient.id for patient in page.items])
    query = {k: v for k, v in args.items() if k in ("pending", "mine", "from", "to", "limit")}
    return render("patients/list.html", block="rows", page=page, filters=filters, query=query,
                  today=clinic_time.today(), typed_from=typed_from, typed_to=typed_to, date_error=date_error)


@bp.app_template_filter("age")
def age_filter(born: date, today: date | None = None) -> str:
    return age_label(born, today or clinic_time.today())


@bp.app_template_filter("phone_ending")
def phone_ending_filter(phone: str | None) -> str:
    from .phones import phone_ending
    return phone_ending(phone)
