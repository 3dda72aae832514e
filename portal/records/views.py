"""Records views: the visit page (vitals, note, diagnoses, prescriptions, services, signing, addenda),
the ICD-10 picker, allergies, the patient's clinical panel and timeline, print-outs, the waiting room."""
from __future__ import annotations

from datetime import date, timedelta
from typing import Any
from urllib.parse import urlsplit

from flask import current_app, make_response, render_template, request, url_for
from flask_login import current_user
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup

from .. import clinic_time
from ..audit import record_access
from ..auth.access import current_actor, roles
from ..auth.roles import ALL_STAFF, CLINICAL, DESK, DOCTOR, DOCTORS, NURSE
from ..domain import DomainError, NotFound
from ..extensions import db
from ..idempotency import new_key
from ..models import Allergy, Appointment, Consultation, Patient
from ..patients.search import search_patients
from ..patients.services import staff_names
from ..schedule import queries as schedule_queries
from ..schedule import services as schedule
from ..validation import day as read_day
from ..validation import integer, row_id, search_term
from ..web import drawn_once, held_read, recent_read, redirect_to, render, render_fragment, wants_fragment
from . import bp, forms, queries, services

WAITING_POLL_SECONDS = 10


@bp.app_template_global()
def records_vital_ranges():
    """The vitals' labels, units and ranges, for the forms and tables."""
    return services.VITALS


def _view_of(role: str) -> str:
    return "full" if role == DOCTOR else "nursing"


def _visit_context(appointment_id: int, view: str) -> dict[str, Any]:
    session = db.session()
    appointment = session.get(Appointment, appointment_id)
    if appointment is None:
        raise NotFound("That appointment does not exist.")
    consultation = queries.consultation_of(session, appointment_id)
    note = queries.note_view(session, consultation) if consultation is not None else None
    vitals = queries.visit_vitals(session, appointment_id)
    own = appointment.doctor.user_id == current_actor().user_id
    draft = note is not None and note.consultation.status == "draft"
    ids = {v.recorded_by_id for v in vitals}
    if note is not None:
        ids |= {note.consultation.signed_by_id} | {a.author_id for a in note.addenda}
    return {"appointment": appointment, "patient": appointment.patient, "view": view, "note": note,
            "vitals": vitals, "flags": {v.id: services.vital_flags(v) for v in vitals},
            "bmi": services.bmi, "allergies": queries.allergies(session, appointment.patient_id),
            "own": own, "draft": draft, "names": staff_names(ids),
            "price_list": queries.price_list(session) if draft and own else [],
            "sign_key": new_key(), "errors": {}, "typed": {},
            "c": note.consultation if note is not None else None,
            **_follow_up_context(note.consultation if note is not None else None, appointment.doctor_id,
                                 own and view == "full")}


FOLLOW_UP_DAYS = 7  # the picker opens a week after the visit


def _follow_up_context(consultation: Consultation | None, doctor_id: int, bookable: bool,
                       on_day: date | None = None) -> dict[str, Any]:
    """The note's booked follow-ups, and for its doctor the picker: doctors, a day and its free slots."""
    if consultation is None:
        return {"follow_ups": [], "follow_up": None}
    booked = queries.follow_ups(db.session(), consultation.id)
    if not bookable:
        return {"follow_ups": booked, "follow_up": None}
    on_day = on_day or clinic_time.today() + timedelta(days=FOLLOW_UP_DAYS)
    return {"follow_ups": booked,
            "follow_up": {"doctor_id": doctor_id, "day": on_day, "doctors": schedule_queries.active_doctors(),
                          "slots": schedule_queries.free_slots(doctor_id, on_day, 40), "key": new_key(),
                          "reason": f"Follow-up of the visit on {clinic_time.local(consultation.created_at):%d %b %Y}"}}


def _break_glass(patient_id: int):
    patient = db.session.get(Patient, patient_id)
    back = request.headers.get("HX-Current-URL", "") if wants_fragment() else request.full_path.rstrip("?")
    return render("records/break_glass.html", block="glass", status=403, patient=patient,
                  back=urlsplit(back).path if back.startswith("http") else back)


@bp.route("/appointments/<int:appointment_id>")
@roles(CLINICAL)
def visit(appointment_id: int):
    actor = current_actor()
    patient_id = services.patient_of_appointment(appointment_id)
    try:
        view = services.open_record(patient_id, actor, "records.visit.view", "appointment", appointment_id)
    except services.BreakGlassRequired:
        return _break_glass(patient_id)
    return render("records/visit.html", **_visit_context(appointment_id, view))


def _section(appointment_id: int, block: str, error: DomainError | None = None, section: str = ""):
    """After a form on the visit page: its section again for htmx, else back to the page."""
    if error is None and not wants_fragment():
        return redirect_to(url_for("records.visit", appointment_id=appointment_id) + f"#{block}")
    context = _visit_context(appointment_id, _view_of(current_actor().role))
    status = 200
    if error is not None:
        context["errors"] = {section or block: error.message, "field": error.field}
        context["typed"] = request.form
        status = error.status
    return render("records/visit.html", block=block if wants_fragment() else None, status=status, **context)


@bp.route("/appointments/<int:appointment_id>/vitals", methods=["POST"])
@roles(CLINICAL)
def record_vitals(appointment_id: int):
    try:
        services.record_vitals(appointment_id, forms.vitals(request.form), current_actor())
    except services.BreakGlassRequired:
        raise
    except DomainError as error:
        if isinstance(error, NotFound):
            raise
        return _section(appointment_id, "vitals", error)
    return _section(appointment_id, "vitals")


@bp.route("/appointments/<int:appointment_id>/start", methods=["POST"])
@roles(DOCTORS)
def start(appointment_id: int):
    services.start_consultation(appointment_id, current_actor())
    return redirect_to(url_for("records.visit", appointment_id=appointment_id))


def _consultation(consultation_id: int) -> Consultation:
    consultation = db.session.get(Consultation, consultation_id)
    if consultation is None:
        raise NotFound("That consultation does not exist.")
    return consultation


@bp.route("/consultations/<int:consultation_id>/note", methods=["POST"])
@roles(DOCTORS)
def save_note(consultation_id: int):
    """Autosave: the status line ("saved at hh:mm") with the new version, or 409 with both texts."""
    note = forms.note(request.form)
    expected = forms.version(request.form.get("version"))
    try:
        version, saved_at = services.save_note(consultation_id, expected, note, current_actor())
    except services.StaleNote as stale:
        return render_fragment("records/_save_status.html", status=409, stale=stale, fields=services.NOTE_FIELDS,
                               labels=forms.NOTE_LABELS)
    return render_fragment("records/_save_status.html", version=version, saved_at=saved_at,
                           consultation_id=consultation_id)


def _part_form(consultation_id: int, block: str, action, shown_when_signed: bool = False) -> Any:
    consultation = _consultation(consultation_id)
    try:
        action()
    except DomainError as error:
        if isinstance(error, NotFound) and error.field is None and "consultation" in error.message:
            raise
        if shown_when_signed and consultation.status != "signed":
            raise  # the section is not on a draft's page: the alert goes to #flash
        return _section(consultation.appointment_id, block, error)
    return _section(consultation.appointment_id, block)


@bp.route("/consultations/<int:consultation_id>/diagnoses", methods=["POST"])
@roles(DOCTORS)
def add_diagnosis(consultation_id: int):
    def act():
        code, free_text, primary = forms.diagnosis(request.form)
        services.add_diagnosis(consultation_id, code, free_text, primary, current_actor())
    return _part_form(consultation_id, "diagnoses", act)


@bp.route("/consultations/<int:consultation_id>/diagnoses/<int:diagnosis_id>/remove", methods=["POST"])
@roles(DOCTORS)
def remove_diagnosis(consultation_id: int, diagnosis_id: int):
    return _part_form(consultation_id, "diagnoses",
                      lambda: services.remove_diagnosis(consultation_id, diagnosis_id, current_actor()))


@bp.route("/consultations/<int:consultation_id>/prescriptions", methods=["POST"])
@roles(DOCTORS)
def add_prescription(consultation_id: int):
    def act():
        line, confirmed = forms.prescription(request.form)
        services.add_prescription(consultation_id, line, confirmed, current_actor())
    return _part_form(consultation_id, "prescriptions", act)


@bp.route("/consultations/<int:consultation_id>/prescriptions/<int:prescription_id>/remove", methods=["POST"])
@roles(DOCTORS)
def remove_prescription(consultation_id: int, prescription_id: int):
    return _part_form(consultation_id, "prescriptions",
                      lambda: services.remove_prescription(consultation_id, prescription_id, current_actor()))


@bp.route("/consultations/<int:consultation_id>/services", methods=["POST"])
@roles(DOCTORS)
def add_service(consultation_id: int):
    def act():
        service_id, quantity = forms.service(request.form)
        services.add_service(consultation_id, service_id, quantity, current_actor())
    return _part_form(consultation_id, "services", act)


@bp.route("/consultations/<int:consultation_id>/services/<int:line_id>/remove", methods=["POST"])
@roles(DOCTORS)
def remove_service(consultation_id: int, line_id: int):
    return _part_form(consultation_id, "services",
                      lambda: services.remove_service(consultation_id, line_id, current_actor()))


@bp.route("/consultations/<int:consultation_id>/sign", methods=["POST"])
@roles(DOCTORS)
def sign(consultation_id: int):
    consultation = _consultation(consultation_id)
    appointment_id = consultation.appointment_id
    services.sign(consultation_id, request.form.get("key"), current_actor())
    return redirect_to(url_for("records.visit", appointment_id=appointment_id))


def _follow_up_picker_args(consultation: Consultation, args) -> tuple[int, date | None]:
    return (row_id(args.get("doctor_id"), "doctor", field="doctor_id") or consultation.doctor_id,
            read_day(args.get("date"), "follow-up date", field="date"))


@bp.route("/consultations/<int:consultation_id>/follow-up/slots")
@roles(DOCTORS)
def follow_up_slots(consultation_id: int):
    """The picker's free slots for the chosen doctor and day (no patient data: the slots only)."""
    consultation = _consultation(consultation_id)
    doctor_id, on_day = _follow_up_picker_args(consultation, request.args)
    context = _follow_up_context(consultation, doctor_id, True, on_day)
    return render_fragment("records/_follow_up_slots.html", follow_up=context["follow_up"])


@bp.route("/consultations/<int:consultation_id>/follow-up", methods=["POST"])
@roles(DOCTORS)
def book_follow_up(consultation_id: int):
    """Book the follow-up through the schedule's rules; a taken slot or a clash is said plainly."""
    consultation = _consultation(consultation_id)
    doctor_id, on_day = _follow_up_picker_args(consultation, request.form)
    error: DomainError | None = None
    try:
        slot_id = row_id(request.form.get("slot_id"), "slot", field="slot_id")
        if slot_id is None:
            raise DomainError("Choose a free time for the follow-up.", 422, field="slot_id")
        length = integer(request.form.get("length") or "1", "length", 1, services.MAX_FOLLOW_UP_SLOTS,
                         field="length") or 1
        services.book_follow_up(consultation_id, slot_id, length, request.form.get("reason"),
                                request.form.get("key"), current_actor())
    except DomainError as error_:
        if isinstance(error_, NotFound) and error_.field is None and "consultation" in error_.message:
            raise
        error = error_
    if not wants_fragment() and error is None:
        return redirect_to(url_for("records.visit", appointment_id=consultation.appointment_id) + "#follow-up")
    context = _visit_context(consultation.appointment_id, _view_of(current_actor().role))
    context.update(_follow_up_context(consultation, doctor_id, context["own"], on_day))
    status = 200
    if error is not None:
        context["errors"] = {"follow_up": error.message, "field": error.field}
        context["typed"] = request.form
        status = error.status
        if context["follow_up"] is not None:  # keep the typed reason
            context["follow_up"]["reason"] = request.form.get("reason", "")[:500]
    return render("records/visit.html", block="follow_up" if wants_fragment() else None, status=status,
                  **context)


@bp.route("/consultations/<int:consultation_id>/addenda", methods=["POST"])
@roles(DOCTORS)
def add_addendum(consultation_id: int):
    def act():
        reason, body = forms.addendum(request.form)
        services.add_addendum(consultation_id, reason, body, current_actor())
    return _part_form(consultation_id, "addenda", act, shown_when_signed=True)


@bp.route("/icd10")
@roles(DOCTORS)
def icd10():
    """The diagnosis picker's options as the doctor types (at most 20)."""
    term = search_term(request.args.get("q"), 60)
    return render_fragment("records/_icd_options.html", codes=queries.icd10_search(db.session(), term), term=term)


# ---- print-outs ----------------------------------------------------------------------

def _print(consultation_id: int, template: str, action: str):
    actor = current_actor()
    patient_id = services.patient_of_consultation(consultation_id)
    try:
        view = services.open_record(patient_id, actor, action, "consultation", consultation_id)
    except services.BreakGlassRequired:
        return _break_glass(patient_id)
    consultation = _consultation(consultation_id)
    appointment = db.session.get(Appointment, consultation.appointment_id)
    assert appointment is not None
    note = queries.note_view(db.session(), consultation)
    names = staff_names({consultation.signed_by_id})
    return render(template, note=note, appointment=appointment, patient=appointment.patient, view=view,
                  allergies=queries.allergies(db.session(), appointment.patient_id), names=names,
                  follow_ups=queries.follow_ups(db.session(), consultation_id),
                  clinic_name=current_app.config.get("CLINIC_NAME", "Kliniki Clinic"))


@bp.route("/consultations/<int:consultation_id>/summary")
@roles(DOCTORS)
def print_summary(consultation_id: int):
    return _print(consultation_id, "records/print_summary.html", "records.print.summary")


@bp.route("/consultations/<int:consultation_id>/prescription")
@roles(CLINICAL)
def print_prescription(consultation_id: int):
    return _print(consultation_id, "records/print_prescription.html", "records.print.prescription")


# ---- allergies ----------------------------------------------------------------------------

def _patient(patient_id: int) -> Patient:
    patient = db.session.get(Patient, patient_id)
    if patient is None:
        raise NotFound("There is no patient with that number.")
    return patient


def _allergies(patient_id: int, status: int = 200, error: DomainError | None = None):
    patient = _patient(patient_id)
    return render_fragment("records/_allergies.html", status=status, patient=patient,
                           allergies=queries.allergies(db.session(), patient_id), editable=True,
                           error=error.message if error else None, typed=request.form if error else {})


@bp.route("/patients/<int:patient_id>/allergies")
@roles(ALL_STAFF)
def patient_allergies(patient_id: int):
    """The allergy banner (reception keeps seeing allergies; only clinical staff change them)."""
    patient = _patient(patient_id)
    return render_fragment("records/_allergies.html", patient=patient, error=None, typed={},
                           allergies=queries.allergies(db.session(), patient_id),
                           editable=current_actor().role in CLINICAL)


@bp.route("/patients/<int:patient_id>/allergies", methods=["POST"])
@roles(CLINICAL)
def add_allergy(patient_id: int):
    try:
        services.add_allergy(patient_id, forms.allergy(request.form), current_actor())
    except DomainError as error:
        if isinstance(error, NotFound):
            raise
        return _allergies(patient_id, error.status, error)
    return _after_allergy(patient_id)


@bp.route("/allergies/<int:allergy_id>", methods=["POST"])
@roles(CLINICAL)
def change_allergy(allergy_id: int):
    allergy = db.session.get(Allergy, allergy_id)
    if allergy is None:
        raise NotFound("That allergy is not recorded (any more).")
    patient_id = allergy.patient_id
    try:
        services.update_allergy(allergy_id, forms.allergy(request.form, editing=True), current_actor())
    except DomainError as error:
        if isinstance(error, NotFound):
            raise
        return _allergies(patient_id, error.status, error)
    return _after_allergy(patient_id)


def _after_allergy(patient_id: int):
    if wants_fragment():
        return _allergies(patient_id)
    back = request.form.get("back") or ""
    return redirect_to(back if back.startswith("/") and not back.startswith("//")
                       else url_for("patients.profile", patient_id=patient_id))


# ---- the patient's clinical panel and timeline ------------------------------------------------

@bp.route("/patients/<int:patient_id>/clinical")
@roles(CLINICAL)
def patient_clinical(patient_id: int):
    """The vitals trend and the newest visits, loaded on demand into the patient's record."""
    actor = current_actor()
    try:
        view = services.open_record(patient_id, actor, "records.timeline.view", "patient", patient_id)
    except services.BreakGlassRequired:
        return _break_glass(patient_id)
    trend = queries.vitals_trend(db.session(), patient_id)
    page = queries.timeline(db.session(), patient_id, None, request.args.get("limit", 10), view == "full")
    return render("records/clinical.html", block="panel", patient=_patient(patient_id), trend=trend,
                  flags={v.id: services.vital_flags(v) for v in trend}, bmi=services.bmi, page=page, view=view)


@bp.route("/patients/<int:patient_id>/timeline")
@roles(CLINICAL)
def timeline(patient_id: int):
    """The next page of visits (keyset)."""
    actor = current_actor()
    cursor = search_term(request.args.get("cursor"), 80)  # it is kept in the audit event
    try:
        view = services.open_record(patient_id, actor, "records.timeline.view", "patient", patient_id,
                                    {"cursor": cursor})
    except services.BreakGlassRequired:
        return _break_glass(patient_id)
    page = queries.timeline(db.session(), patient_id, cursor, request.args.get("limit", 10), view == "full")
    return render_fragment("records/_timeline.html", patient=_patient(patient_id), page=page, view=view)


@bp.route("/patients/<int:patient_id>/break-glass", methods=["POST"])
@roles(DOCTORS)
def break_glass(patient_id: int):
    try:
        services.break_glass(patient_id, request.form.get("reason"), current_actor())
    except DomainError as error:
        if isinstance(error, NotFound):
            raise
        return render("records/break_glass.html", status=error.status, patient=_patient(patient_id),
                      back=request.form.get("back", ""), error=error.message)
    back = request.form.get("back") or ""
    safe = back.startswith("/") and not back.startswith("//")
    return redirect_to(back if safe else url_for("patients.profile", patient_id=patient_id))


NOTES_PATIENT_MATCHES = 20

# ---- the records list -------------------------------------------------------------------------

@bp.route("/notes")
@roles(DOCTORS, "admin")
def notes():
    """Consultation notes by doctor, patient and date (a doctor's own by default); admins see no content."""
    from ..validation import day, row_id
    actor = current_actor()
    session = db.session()
    own_doctor = queries.doctor_id_of_user(session, actor.user_id)
    mine = actor.role == DOCTOR and request.args.get("all") != "1"
    doctor_id = own_doctor if mine else row_id(request.args.get("doctor_id"), "doctor")
    patient_id = row_id(request.args.get("patient_id"), "patient")
    day_from, day_to = day(request.args.get("from"), "first day"), day(request.args.get("to"), "last day")
    patient_term = search_term(request.args.get("patient"), 100)
    found = search_patients(patient_term, limit=NOTES_PATIENT_MATCHES) if patient_term else None
    page = queries.notes_page(session, doctor_id, patient_id, day_from, day_to, request.args.get("cursor"),
                              request.args.get("limit", 25),
                              patient_ids=[p.id for p in found] if found is not None else None)
    record_access(actor, "records.notes.list", [row.patient_id for row in page.items], "consultation")
    args = {k: v for k, v in {"doctor_id": doctor_id if not mine else None, "patient_id": patient_id,
                              "patient": patient_term,
                              "from": day_from, "to": day_to, "all": "1" if not mine and actor.role == DOCTOR
                              else None}.items() if v}
    return render("records/notes.html", block="rows", page=page, mine=mine, doctor_view=actor.role == DOCTOR,
                  doctors=queries.doctors(session),
                  doctor_id=doctor_id, patient_id=patient_id, day_from=day_from, day_to=day_to, args=args,
                  patient_term=patient_term, patient_matches=len(found) if found is not None else None)


# ---- the waiting room ---------------------------------------------------------------------------

MAX_CACHED_ROOMS = 50  # versions x roles; dropped whole when full
_ROOM_HTML = "kliniki_waiting_room_html"
_CSRF_MARK = "\x00csrf\x00"  # stands for the screen's own CSRF token in the drawn room


def drawn_room(session, version: str, read_at: int) -> tuple[str, list[int]]:
    """The waiting room's HTML (its CSRF token marked) and the patients it shows, drawn once per
    version of the room and role: every nurse's and doctor's screen polls it, and during a morning
    each change was drawn again for every one of them. The caller reads the version first, so a
    change meanwhile shows at the next poll."""
    def draw() -> tuple[str, list[int]]:
        rows = queries.waiting_room(session)
        expected, expected_in_all = queries.expected_today(session)
        doctors: dict[str, list] = {}
        for item in rows:
            doctors.setdefault(item["row"].doctor_name, []).append(item)
        html = render_template("records/_waiting_room.html", doctors=doctors, expected=expected,
                               expected_in_all=expected_in_all, version=version, read_at=read_at,
                               poll_seconds=WAITING_POLL_SECONDS)
        return (html.replace(generate_csrf(), _CSRF_MARK),
                [item["row"].patient_id for item in rows] + [row.patient_id for row in expected])
    return drawn_once(_ROOM_HTML, (version, current_user.role), draw, MAX_CACHED_ROOMS)


_READ_VERSION = "kliniki_waiting_room_read"  # role -> (read at, version), in this worker


def room_version(session, held_at: int | None = None) -> tuple[str, int]:
    """The room's version and when it was read, from this worker's read for the role of the last
    WAITING_ROOM_FRESH_S unless the screen holds a later one (web.recent_read)."""
    return recent_read(_READ_VERSION, current_user.role, held_at, current_app.config["WAITING_ROOM_FRESH_S"],
                       lambda: queries.waiting_room_version(session), MAX_CACHED_ROOMS)


def _waiting_room(version: tuple[str, int] | None = None):
    session = db.session()
    html, shown = drawn_room(session, *(version or room_version(session)))
    room = Markup(html.replace(_CSRF_MARK, generate_csrf()))
    if wants_fragment():
        response = make_response(room)
        response.vary.add("HX-Request")
        return response
    record_access(current_actor(), "records.waiting_room.view", shown, "day")  # the page, not every poll
    return render("records/waiting_room.html", room_html=room, poll_seconds=WAITING_POLL_SECONDS)


@bp.route("/waiting-room")
@roles(ALL_STAFF)
def waiting_room():
    """Today's checked-in patients by doctor: minutes waited and stage (no clinical content); the poll
    answers 204 while nothing changed since the version the page holds (as the day grid's does)."""
    if not wants_fragment():
        return _waiting_room()
    version = room_version(db.session(), held_read())
    if request.args.get("v") == version[0]:
        return make_response("", 204)
    return _waiting_room(version)


@bp.route("/waiting-room/<int:appointment_id>/check-in", methods=["POST"])
@roles(DESK, NURSE)
def check_in(appointment_id: int):
    """One click from the waiting room's "not arrived yet" list; the room comes back with the change."""
    schedule.change_status(appointment_id, "checked_in", current_actor())
    if not wants_fragment():
        return redirect_to(url_for("records.waiting_room"))
    return _waiting_room()
