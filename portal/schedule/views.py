"""Schedule views: the reception day grid, booking, appointment actions, doctors' tablet, doctors admin."""
from __future__ import annotations

from datetime import date, timedelta
from typing import NamedTuple
from urllib.parse import urlsplit

from flask import current_app, flash, make_response, render_template, request, url_for
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy import select

from .. import clinic_time, validation
from ..audit import record_access
from ..auth.access import any_staff, current_actor, roles
from ..auth.roles import DESK, NURSE
from ..domain import DomainError
from ..errors import fail
from ..extensions import db
from ..idempotency import IdempotencyError, new_key
from ..models import Patient, Slot
from ..models.schedule import Appointment, Doctor
from ..patients import services as patient_services
from ..patients.forms import LABELS, SEXES, parse_patient_form
from ..web import around_id, drawn_once, held_read, recent_read, redirect_to, render, render_fragment, wants_fragment
from . import availability, bp, queries, services
from .services import ScheduleError, SlotTaken

POLL_SECONDS = 10
MAX_LENGTH_CHOICES = 8


# ---- parsing helpers ------------------------------------------------------------

def _day_arg(value: str | None) -> date:
    """?date=YYYY-MM-DD (today when absent); a wrong or impossible date is a clear 422."""
    return validation.day(value) or clinic_time.today()


def _int_arg(value, label: str) -> int | None:
    return validation.row_id(value, label)


def _patient(patient_id: int | None) -> Patient | None:
    if patient_id is None:
        return None
    patient = db.session.get(Patient, patient_id)
    if patient is None:
        fail(404, "There is no patient with that number.", "Patient not found")
    return patient


def _can_book() -> bool:
    return current_user.role in DESK


# ---- the day grid ---------------------------------------------------------------

class SlotUrls(NamedTuple):
    """The grid's two links, each as the text before and after its id."""

    book: tuple[str, str]  # booking a free slot (for the chosen patient, if any)
    appointment: tuple[str, str]


def slot_urls(patient_id: int | None = None) -> SlotUrls:
    """The grid's links around their ids, built once for the page."""
    book_args = {"patient_id": patient_id} if patient_id else {}
    return SlotUrls(around_id("schedule.booking_form", "slot_id", **book_args),
                    around_id("schedule.appointment", "appointment_id"))


class CellDrawer:
    """Draws the grid's cells (the `cell` macro), each rendered once while everything it shows is unchanged.

    A grid of 40 doctors is 600+ cells and its polls redraw it whole, though few cells change between
    two draws: rendering each anew was most of the page's time.
    """

    def __init__(self, can_book: bool, urls: SlotUrls, oob: bool) -> None:
        self.macro = current_app.jinja_env.get_template("schedule/_cell.html").module.cell  # type: ignore
        self.can_book, self.urls, self.oob = can_book, urls, oob

    def __call__(self, cell: queries.Cell | None, in_table: bool = False) -> Markup:
        key = (self.macro, self.can_book, self.urls, self.oob, in_table) + (
            (cell.slot_id, cell.state, cell.past, cell.continued, cell.outside_hours, cell.appointment_id,
             cell.patient, cell.status, cell.doctor, cell.time_label) if cell else ())
        html = _CELL_HTML.get(key)
        if html is None:
            if len(_CELL_HTML) >= MAX_CACHED_CELLS:  # dropped whole now and then: simpler than an LRU, as bounded
                _CELL_HTML.clear()
            html = _CELL_HTML[key] = self.macro(cell, self.can_book, self.urls, self.oob, in_table)
        return html

    def row(self, cells: list[queries.Cell | None]) -> Markup:
        """A row of the grid: each doctor's cell in its <td>."""
        return Markup("").join([self(cell, True) for cell in cells])


@bp.app_template_global()
def cell_drawer(can_book: bool, patient_id: int | None = None, oob: bool = False) -> CellDrawer:
    """What the grid and its out-of-band refreshes draw each cell with."""
    return CellDrawer(can_book, slot_urls(patient_id), oob)


MAX_CACHED_CELLS = 20_000  # a few days of a 40-doctor clinic's cells, in several roles' and patients' links
_CELL_HTML: dict[tuple, Markup] = {}


def _specialisation_arg(value: str | None) -> str | None:
    value = " ".join((value or "").split())
    if len(value) > 80 or validation.has_control_characters(value):
        fail(422, "That specialisation is not valid.")
    return value or None


def _nav_args(patient_id: int | None, specialisation: str | None) -> dict:
    """What the day's links and its poll carry besides the date."""
    return {name: value for name, value in (("patient_id", patient_id), ("spec", specialisation)) if value}


MAX_CACHED_GRIDS = 500  # days x roles x patients being booked for; dropped whole when full, as _CELL_HTML
_GRID_HTML = "kliniki_grid_html"


_READ_VERSION = "kliniki_day_read"  # day -> (read at, version), in this worker


def day_version(day: date, held_at: int | None = None) -> tuple[str, int]:
    """The day's version and when it was read, from this worker's read of the last DAY_GRID_FRESH_S
    unless the screen holds a later one (web.recent_read): every desk polls the days it shows."""
    return recent_read(_READ_VERSION, day, held_at, current_app.config["DAY_GRID_FRESH_S"],
                       lambda: queries.day_version(day), MAX_CACHED_GRIDS)


def drawn_grid(day: date, patient: Patient | None, specialisation: str | None,
               version: str, read_at: int) -> tuple[Markup, list[int]]:
    """The day grid's HTML and the patients it shows, drawn once per version of the day.

    The caller reads the version before this reads the cells, so a change made between the two
    shows at the next poll. What the HTML depends on besides the day's rows is in the key: the role
    (its links), the patient being booked for and the specialisation. Reception's desks all polling
    one day share one drawing.
    """
    patient_id = patient.id if patient else None

    def draw() -> tuple[Markup, list[int]]:
        grid = queries.day_grid(day, specialisation, version)
        html = Markup(render_template("schedule/_grid.html", day=day, grid=grid, read_at=read_at, patient_id=patient_id,
                                      nav_args=_nav_args(patient_id, specialisation), poll_seconds=POLL_SECONDS))
        return html, [cell.patient_id for cell in grid.cells.values() if cell.patient_id]
    return drawn_once(_GRID_HTML, (day, version, current_user.role, patient_id, specialisation), draw,
                      MAX_CACHED_GRIDS)


@bp.route("/")
@any_staff
def day():
    day = _day_arg(request.args.get("date"))
    patient = _patient(_int_arg(request.args.get("patient_id"), "patient number"))
    patient_id = patient.id if patient else None
    specialisation = _specialisation_arg(request.args.get("spec"))
    # Reception's to-do lists sit above the grid: the grid's poll neither shows nor reads them.
    desk = _can_book()
    grid_html, shown = drawn_grid(day, patient, specialisation, *day_version(day))
    to_move = availability.needs_rescheduling(20) if desk else []
    questions = queries.questions_for_reception(20) if desk else []
    record_access(current_actor(), "schedule.day_grid",
                  shown + [row.patient_id for row in to_move + questions] + [patient_id],
                  entity="day", detail={"date": day.isoformat()})
    return render("schedule/day.html", block="day", day=day, grid_html=grid_html, patient=patient,
                  patient_id=patient_id, specialisation=specialisation,
                  nav_args=_nav_args(patient_id, specialisation), today=clinic_time.today(),
                  prev_day=day - timedelta(days=1), next_day=day + timedelta(days=1),
                  specialisations=queries.specialisations(), needs_rescheduling=to_move, questions=questions)


@bp.route("/grid")
@any_staff
def grid():
    """The poll: 204 when nothing on the day changed, else the fresh grid."""
    day = _day_arg(request.args.get("date"))
    patient_id = _int_arg(request.args.get("patient_id"), "patient number")
    specialisation = _specialisation_arg(request.args.get("spec"))
    if not wants_fragment():  # the poll's address opened as a page: the day it polls
        return redirect_to(url_for("schedule.day", date=day.isoformat(), **_nav_args(patient_id, specialisation)))
    version, read_at = day_version(day, held_read())
    if request.args.get("v") == version:
        return make_response("", 204)
    grid_html, _ = drawn_grid(day, _patient(patient_id), specialisation, version, read_at)
    response = make_response(grid_html)
    response.vary.add("HX-Request")
    return response


@bp.route("/list")
@any_staff
def day_list():
    """The day's appointments as a list to read or print (nurses' daily list)."""
    day = _day_arg(request.args.get("date"))
    doctor_id = _int_arg(request.args.get("doctor_id"), "doctor")
    rows, truncated = services.read_day_list(day, current_actor(), doctor_id)
    return render("schedule/list.html", day=day, rows=rows, truncated=truncated,
                  doctors=queries.active_doctors(), doctor_id=doctor_id,
                  today=clinic_time.today(), prev_day=day - timedelta(days=1),
                  next_day=day + timedelta(days=1), day_is_today=day == clinic_time.today())


# ---- booking --------------------------------------------------------------------

def _form_context(slot_id: int, form: dict, error: str | None = None, taken: bool = False,
                  new_patient: dict | None = None, new_errors: dict | None = None,
                  new_duplicates: list | None = None) -> dict:
    """What the booking form shows: the slot, the chosen patient, other free times after a refusal,
    and what was typed for a patient being registered from the form."""
    cell = next(iter(queries.cells_for([slot_id])), None)
    doctor = db.session.get(Doctor, cell.doctor_id) if cell else None
    patient = None
    try:
        patient_id = validation.row_id(form.get("patient_id"), "patient")
    except validation.BadInput:
        patient_id = None  # the form says so when it is submitted
    if patient_id is not None:
        patient = db.session.get(Patient, patient_id)
    alternatives = []
    if taken and cell:
        local_day = cell.starts_at.astimezone(clinic_time.zone()).date()
        alternatives = queries.free_slots(cell.doctor_id, local_day, 50)
    return {"cell": cell, "doctor": doctor, "form": form, "patient": patient, "error": error,
            "taken": taken, "alternatives": alternatives,
            "length_choices": range(1, MAX_LENGTH_CHOICES + 1),
            "new_patient": new_patient or {}, "new_errors": new_errors or {}, "new_duplicates": new_duplicates,
            "labels": LABELS, "sexes": SEXES}


@bp.route("/slots/<int:slot_id>/book")
@roles(DESK)
def booking_form(slot_id: int):
    form = {"slot_id": slot_id, "length": 1, "reason": "", "key": new_key(),
            "patient_id": request.args.get("patient_id", "")}
    context = _form_context(slot_id, form)
    if context["cell"] is None:
        fail(404, "That slot does not exist (any more). Refresh the day.")
    if context["patient"]:
        record_access(current_actor(), "schedule.booking_form", [context["patient"].id], "slot", slot_id)
    return render("schedule/_booking_form.html", **context)


@bp.route("/walk-in")
@roles(DESK)
def walk_in():
    """The booking form for the free slot running now, or the next one of any doctor today."""
    slot_id = queries.next_free_slot(clinic_time.today(), _specialisation_arg(request.args.get("spec")))
    if slot_id is None:
        fail(404, "No doctor has a free slot left today.", "No free slot")
    return booking_form(slot_id)


@bp.route("/patients")
@roles(DESK)
def patient_options():
    """Search as you type: patients by name, phone or file number (at most 20)."""
    from ..patients.search import search_patients

    term = validation.search_term(request.args.get("q"), 100)
    found = search_patients(term, limit=20) if term else []
    record_access(current_actor(), "patient.search", [patient.id for patient in found])
    return render("schedule/_patient_options.html", patients=found, term=term, selected=None)


BOOKING_FIELDS = ("slot_id", "length", "patient_id", "reason", "key", "pending_review", "walk_in")
NEW_PATIENT_FIELDS = ("first_name", "last_name", "date_of_birth", "sex", "phone", "consent_data_processing",
                      "duplicate_reason")


@bp.route("/book/new-patient", methods=["POST"])
@roles(DESK)
def book_new_patient():
    """Register the patient typed into the booking form, then book them; nothing typed is lost."""
    form = {name: (request.form.get(name) or "").strip() for name in BOOKING_FIELDS}
    slot_id = _int_arg(form["slot_id"], "slot")
    if slot_id is None:
        fail(422, "Choose a slot.")
    typed = {name: request.form.get(name, "")[:500] for name in NEW_PATIENT_FIELDS}
    parsed = parse_patient_form(typed, clinic_time.today())
    errors = {name: message for name, message in parsed.errors.items() if name in NEW_PATIENT_FIELDS}
    if errors:
        return _booking_refused(slot_id, form, "Check the new patient's details.", 422,
                                new_patient=typed, new_errors=errors)
    try:
        patient = patient_services.register_patient(parsed.clean, current_actor(), typed["duplicate_reason"])
    except patient_services.DuplicatesFound as found:
        return _booking_refused(slot_id, form, found.message, 409, new_patient=typed,
                                new_duplicates=found.duplicates)
    except DomainError as error:
        return _booking_refused(slot_id, form, error.message, error.status, new_patient=typed)
    return _book(slot_id, {**form, "patient_id": str(patient.id)})


@bp.route("/book", methods=["POST"])
@roles(DESK)
def book():
    form = {name: (request.form.get(name) or "").strip() for name in BOOKING_FIELDS}
    slot_id = _int_arg(form["slot_id"], "slot")
    if slot_id is None:
        fail(422, "Choose a slot.")
    return _book(slot_id, form)


def _book(slot_id: int, form: dict):
    """Book what the form asks for; the grid's cells and the confirmation, or the form again."""
    try:
        slot_ids = services.consecutive_slot_ids(slot_id, form["length"] or "1")
        result = services.book(slot_ids, form["patient_id"] or None, form["reason"], current_actor(),
                               form["key"], pending_review=validation.flag(form["pending_review"]),
                               walk_in=validation.flag(form["walk_in"]))
    except SlotTaken as taken:
        return _booking_refused(slot_id, form, taken.message, 409, taken=True)
    except (ScheduleError, IdempotencyError) as error:
        return _booking_refused(slot_id, form, error.message, error.status)
    cells = queries.booked_cells(result)  # what the grid shows now: also the confirmation
    if not wants_fragment():
        flash(f"Booked {cells[0].patient} with {cells[0].doctor}.")
        day = cells[0].starts_at.astimezone(clinic_time.zone()).date()
        return redirect_to(url_for("schedule.day", date=day.isoformat()))
    return render("schedule/_booked.html", appointment_id=result.appointment_id, created=result.created,
                  first=cells[0], last=cells[-1], oob_cells=cells)


def _booking_refused(slot_id: int, form: dict, message: str, status: int, taken: bool = False, **new_patient):
    """The form again with the input kept and the message; the refreshed cells out of band."""
    context = _form_context(slot_id, form, message, taken, **new_patient)
    if context["cell"] is None and not wants_fragment():
        fail(status, message)
    oob = queries.cells_for([slot_id]) if taken else []
    return render("schedule/_booking_form.html", status=status, oob_cells=oob, **context)


# ---- one appointment --------------------------------------------------------------

def _appointment_panel(appointment_id: int, message: str | None = None, error: str | None = None,
                       status: int = 200, oob_slot_ids: list[int] | None = None):
    appointment, events = queries.appointment_with_history(appointment_id)
    if appointment is None:
        fail(404, "That appointment does not exist.")
    local_day = appointment.starts_at.astimezone(clinic_time.zone()).date()
    reschedulable = appointment.status in services.RESCHEDULABLE and _can_book()
    return render("schedule/appointment.html", block="panel", status=status, appointment=appointment,
                  events=events,
                  actions=services.allowed_actions(appointment, current_user.role, current_user.id),
                  message=message, error=error,
                  day=local_day,
                  oob_cells=queries.cells_for(oob_slot_ids or []) if _on_day_grid() else [],
                  reschedulable=reschedulable,
                  reschedule_doctors=queries.active_doctors() if reschedulable else [],
                  cancellable=appointment.status in services.CANCELLABLE and _can_book(),
                  undoable=appointment.status == "checked_in" and _can_book(),
                  answerable=(appointment.status == "pending_review" and _can_book()
                              and appointment.review_outcome == "info_requested"),
                  reviewable=(appointment.status == "pending_review" and current_user.role == "doctor"
                              and appointment.doctor.user_id == current_user.id))


def _on_day_grid() -> bool:
    """True when htmx asks from the day grid's side panel: only there are cells to refresh."""
    page = urlsplit(request.headers.get("HX-Current-URL", "")).path.rstrip("/")
    return request.headers.get("HX-Target") == "panel" and page == url_for("schedule.day").rstrip("/")


def _slot_ids_of(appointment_id: int) -> list[int]:
    return list(db.session.scalars(select(Slot.id).where(Slot.appointment_id == appointment_id).limit(100)))


@bp.route("/appointments/<int:appointment_id>")
@any_staff
def appointment(appointment_id: int):
    response = _appointment_panel(appointment_id)
    shown = db.session.get(Appointment, appointment_id)  # loaded by the panel: no second query
    record_access(current_actor(), "schedule.appointment.view", [shown.patient_id if shown else None],
                  "appointment", appointment_id)
    return response


def _act(appointment_id: int, action, done: str):
    """Run a change; show the panel with the outcome and refresh the cells it touched."""
    before = _slot_ids_of(appointment_id)
    try:
        action()
    except ScheduleError as error:
        return _appointment_panel(appointment_id, error=error.message, status=error.status,
                                  oob_slot_ids=before)
    return _appointment_panel(appointment_id, message=done,
                              oob_slot_ids=before + _slot_ids_of(appointment_id))


@bp.route("/appointments/<int:appointment_id>/status", methods=["POST"])
@any_staff
def appointment_status(appointment_id: int):
    to_status = (request.form.get("to") or "")[:20]
    return _act(appointment_id, lambda: services.change_status(
        appointment_id, to_status, current_actor()),
        f"Marked {services.status_label(to_status)}.")


@bp.route("/appointments/<int:appointment_id>/check-in", methods=["POST"])
@roles(DESK, NURSE)
def day_list_check_in(appointment_id: int):
    """One click on the day list: the patient has arrived; the row comes back with its new status."""
    services.change_status(appointment_id, "checked_in", current_actor())
    row = queries.day_list_row(appointment_id)
    if row is None:
        fail(404, "That appointment does not exist.")
    if not wants_fragment():
        return redirect_to(url_for("schedule.day_list", date=clinic_time.local_date(row.starts_at).isoformat()))
    record_access(current_actor(), "schedule.check_in", [row.patient_id], "appointment", appointment_id)
    return render_fragment("schedule/_day_list_row.html", row=row, day_is_today=True)


@bp.route("/appointments/<int:appointment_id>/undo-check-in", methods=["POST"])
@roles(DESK)
def appointment_undo_check_in(appointment_id: int):
    return _act(appointment_id, lambda: services.undo_check_in(
        appointment_id, request.form.get("reason"), current_actor()), "Check-in undone.")


@bp.route("/appointments/<int:appointment_id>/cancel", methods=["POST"])
@roles(DESK)
def appointment_cancel(appointment_id: int):
    return _act(appointment_id, lambda: services.cancel(
        appointment_id, request.form.get("by", ""), request.form.get("reason"), current_actor()),
        "Cancelled; the time is free again.")


@bp.route("/appointments/<int:appointment_id>/free-slots")
@roles(DESK)
def free_slots(appointment_id: int):
    appointment = db.session.get(Appointment, appointment_id)
    if appointment is None:
        fail(404, "That appointment does not exist.")
    day = _day_arg(request.args.get("date"))
    doctor_id = _int_arg(request.args.get("doctor_id"), "doctor") or appointment.doctor_id
    return render("schedule/_free_slots.html", slots=queries.free_slots(doctor_id, day))


@bp.route("/appointments/<int:appointment_id>/reschedule", methods=["POST"])
@roles(DESK)
def appointment_reschedule(appointment_id: int):
    appointment = db.session.get(Appointment, appointment_id)
    if appointment is None:
        fail(404, "That appointment does not exist.")
    length = max(1, len(_slot_ids_of(appointment_id)))

    def move():
        slot_id = _int_arg(request.form.get("slot_id"), "slot")
        if slot_id is None:
            raise ScheduleError("Choose the new time.")
        services.reschedule(appointment_id, services.consecutive_slot_ids(slot_id, length), current_actor())
    return _act(appointment_id, move, "Moved to the new time.")


@bp.route("/appointments/<int:appointment_id>/review", methods=["POST"])
@roles("doctor")
def appointment_review(appointment_id: int):
    decision = request.form.get("decision", "")
    done = {"approve": "Approved.", "ask_info": "Asked reception for more information.",
            "decline": "Declined; the time is free again."}.get(decision, "")
    response = _act(appointment_id, lambda: services.review(
        appointment_id, decision, request.form.get("notes"), current_actor()), done)
    response.headers["HX-Trigger"] = "reviewed"
    return response


@bp.route("/appointments/<int:appointment_id>/answer", methods=["POST"])
@roles(DESK)
def appointment_answer(appointment_id: int):
    return _act(appointment_id, lambda: services.answer_review(
        appointment_id, request.form.get("answer"), current_actor()),
        "Sent to the doctor for review again.")


# ---- doctors on tablets ------------------------------------------------------------

@bp.route("/mine")
@roles("doctor")
def my_day():
    doctor = queries.doctor_for_user(current_user.id)
    page = pending = None
    if doctor:
        page = queries.doctor_upcoming(doctor.id, request.args.get("after"), request.args.get("limit", 25))
        pending = queries.pending_reviews(doctor.id)
        record_access(current_actor(), "schedule.my_day",
                      [a.patient_id for a in list(page.items) + pending], "doctor", doctor.id)
    return render("schedule/mine.html", block="upcoming", doctor=doctor, page=page, pending=pending,
                  today=clinic_time.today())


# ---- doctors admin -------------------------------------------------------------------

@bp.route("/doctors")
@roles(DESK)
def doctor_list():
    return render("schedule/doctors.html", doctors=queries.doctors_page(), form={}, error=None,
                  logins=availability.doctor_logins(), minutes=availability.SLOT_MINUTES)


@bp.route("/doctors", methods=["POST"])
@roles("admin")
def doctor_add():
    form = request.form.to_dict()
    try:
        doctor = availability.save_doctor(form)
    except ScheduleError as error:
        return render("schedule/doctors.html", block="doctor_form", status=error.status,
                      doctors=queries.doctors_page(), form=form, error=error,
                      logins=availability.doctor_logins(), minutes=availability.SLOT_MINUTES)
    flash(f"Added {doctor.name}. Now set the weekly hours.")
    return redirect_to(url_for("schedule.doctor_edit", doctor_id=doctor.id))


def _doctor_or_404(doctor_id: int, editing: bool = False) -> Doctor:
    doctor = db.session.get(Doctor, doctor_id)
    if doctor is None:
        fail(404, "That doctor does not exist.")
    if current_user.role == "doctor" and doctor.user_id != current_user.id:
        fail(403, "Doctors edit only their own availability.")
    if editing and current_user.role == "reception":
        fail(403, "Reception can see availability; an admin or the doctor changes it.")
    return doctor


def _doctor_page(doctor: Doctor, status: int = 200, error: ScheduleError | None = None,
                 form: dict | None = None):
    return render("schedule/doctor.html", status=status, doctor=doctor, error=error,
                  ranges=availability.availability_of(doctor.id), time_off=availability.time_off_of(doctor.id),
                  in_time_off=availability.needs_rescheduling(50, doctor.id),
                  weekdays=availability.WEEKDAYS, minutes=availability.SLOT_MINUTES,
                  logins=availability.doctor_logins(), form=form or {})


@bp.route("/doctors/<int:doctor_id>")
@roles("admin", "reception", "doctor")
def doctor_edit(doctor_id: int):
    return _doctor_page(_doctor_or_404(doctor_id))


@bp.route("/my-availability")
@roles("doctor")
def my_availability():
    doctor = queries.doctor_for_user(current_user.id)
    if doctor is None:
        fail(404, "Your login is not linked to a doctor profile yet. Ask an admin.")
    return redirect_to(url_for("schedule.doctor_edit", doctor_id=doctor.id))


@bp.route("/doctors/<int:doctor_id>/profile", methods=["POST"])
@roles("admin")
def doctor_profile(doctor_id: int):
    doctor = _doctor_or_404(doctor_id, editing=True)
    try:
        saved = availability.save_doctor(request.form.to_dict(), doctor_id)
    except ScheduleError as error:
        return _doctor_page(_doctor_or_404(doctor_id), error.status, error, form=request.form.to_dict())
    waiting = [] if saved.is_active else availability.needs_rescheduling(50, saved.id)
    flash(f"Saved {saved.name}." + (f" {len(waiting)} future appointment(s) with this doctor must move to "
                                    "another doctor; reception sees them on the schedule." if waiting else ""))
    return redirect_to(url_for("schedule.doctor_edit", doctor_id=doctor.id))


@bp.route("/doctors/<int:doctor_id>/availability", methods=["POST"])
@roles("admin", "doctor")
def doctor_availability(doctor_id: int):
    doctor = _doctor_or_404(doctor_id, editing=True)
    try:
        ranges = availability.parse_ranges(request.form.getlist("weekday"), request.form.getlist("kind"),
                                           request.form.getlist("starts"), request.form.getlist("ends"))
        report = availability.set_availability(doctor.id, ranges)
    except ScheduleError as error:
        return _doctor_page(_doctor_or_404(doctor_id), error.status, error)
    return _saved(doctor, report)


@bp.route("/doctors/<int:doctor_id>/time-off", methods=["POST"])
@roles("admin", "doctor")
def doctor_time_off(doctor_id: int):
    doctor = _doctor_or_404(doctor_id, editing=True)
    try:
        report = availability.add_time_off(doctor.id, request.form.get("starts_on"),
                                           request.form.get("ends_on"), request.form.get("reason"),
                                           current_user.id)
    except ScheduleError as error:
        return _doctor_page(_doctor_or_404(doctor_id), error.status, error, form=request.form.to_dict())
    return _saved(doctor, report)


@bp.route("/doctors/<int:doctor_id>/time-off/<int:time_off_id>/delete", methods=["POST"])
@roles("admin", "doctor")
def doctor_time_off_delete(doctor_id: int, time_off_id: int):
    doctor = _doctor_or_404(doctor_id, editing=True)
    try:
        report = availability.remove_time_off(doctor.id, time_off_id)
    except ScheduleError as error:
        return _doctor_page(_doctor_or_404(doctor_id), error.status, error)
    return _saved(doctor, report)


def _saved(doctor: Doctor, report):
    """Back to the doctor's page (reloading it sends nothing again), with what the change did."""
    message = (f"Saved. Slots: {report.created} added, {report.removed} removed, "
               f"{report.blocked} blocked for time off, {report.reopened} reopened.")
    if report.conflicts:
        message += (f" {len(report.conflicts)} booked appointment(s) no longer fit the doctor's hours "
                    "or time off; reception must reschedule them (listed below and on the schedule).")
    flash(message)
    return redirect_to(url_for("schedule.doctor_edit", doctor_id=doctor.id))
