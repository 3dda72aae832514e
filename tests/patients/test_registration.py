"""Registration and edits over HTTP: normalised phones, duplicates, bad input, stale edits."""
import threading

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import AuditEvent, Patient
from tests.factories import patient_form
from tests.helpers import csrf_from, login


@pytest.fixture
def desk(client, login_as):
    """Reception signed in; returns a function posting the registration form."""
    login_as("reception")
    token = csrf_from(client.get("/patients/new").get_data(as_text=True))

    def post(url="/patients/new", htmx=True, **overrides):
        headers = {"HX-Request": "true"} if htmx else {}
        return client.post(url, data={**patient_form(**overrides), "csrf_token": token}, headers=headers)

    post.token = token
    return post


def count_patients(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Patient))


@pytest.mark.parametrize("typed", ["0712 345 678", "+254712345678", "254-712-345678", "712345678",
                                   "0712-345-678", "+254 (0) 712 345678"])
def test_phones_typed_the_kenyan_ways_are_stored_as_e164(app, desk, typed):
    response = desk(phone=typed)
    assert response.status_code == 204, response.get_data(as_text=True)
    assert response.headers["HX-Redirect"].startswith("/patients/")
    with app.app_context():
        patient = db.session.scalars(select(Patient)).one()
        assert patient.phone == "+254712345678"
        assert patient.file_number.startswith("KL-") and patient.approved_at is None
        assert patient.consent_data_processing is True


@pytest.mark.pgbouncer  # run again through PgBouncer by make test
def test_file_numbers_come_from_the_sequence_and_are_never_reused(app, desk):
    assert desk(phone="0711 000 001").status_code == 204
    with app.app_context():
        first = db.session.scalars(select(Patient)).one()
        db.session.delete(first)
        db.session.commit()
    assert desk(phone="0711 000 002").status_code == 204
    with app.app_context():
        second = db.session.scalars(select(Patient)).one()
        assert int(second.file_number[3:]) == int(first.file_number[3:]) + 1


@pytest.mark.pgbouncer  # run again through PgBouncer by make test
def test_all_fields_are_saved(app, desk):
    response = desk(middle_name="Njeri", email="Wanjiru@Example.co.ke", national_id="a1234567",
                    address="Kilimani, Nairobi\nP.O. Box 1", next_of_kin_name="Peter Kamau",
                    next_of_kin_phone="0722 000 111", next_of_kin_relation="Brother",
                    allergies="Penicillin", insurance_provider="SHA", insurance_member_number="123",
                    consent_sms="on")
    assert response.status_code == 204
    with app.app_context():
        p = db.session.scalars(select(Patient)).one()
        assert (p.middle_name, p.email, p.national_id, p.next_of_kin_phone, p.allergies, p.consent_sms) == \
            ("Njeri", "wanjiru@example.co.ke", "A1234567", "+254722000111", "Penicillin", True)
        assert p.address == "Kilimani, Nairobi\nP.O. Box 1"
        event = db.session.scalars(select(AuditEvent)).one()
        assert (event.action, event.patient_id) == ("patient.register", p.id)


@pytest.mark.parametrize("first,last", [("Kevin", "N'Dege"), ("Esther", "Nyambura-Otieno"),
                                        ("Zoë", "Mwangí"), ("Nasra", "Al-Amin"), ("محمد", "علي"),
                                        ("王", "小明"), ("Ng'ang'a", "Wa Kamau"), ("J.", "O’Brien")])
def test_real_names_in_any_script_are_accepted(app, desk, first, last):
    response = desk(first_name=first, last_name=last)
    assert response.status_code == 204, response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalars(select(Patient.last_name)).one() == last


BAD = [
    ("first_name", "W" * 10_240, "At most 80 characters"),
    ("last_name", "K" * 81, "At most 80 characters"),
    ("first_name", "", "This is required."),
    ("first_name", "Wanjiru 😀", "letters, spaces, apostrophes"),
    ("last_name", "Robert'); DROP TABLE patient;--", "letters, spaces, apostrophes"),
    ("last_name", "<script>alert(1)</script>", "letters, spaces, apostrophes"),
    ("last_name", "--", "at least one letter"),
    ("first_name", "Wan\x00jiru", "control characters"),
    ("date_of_birth", "2001-02-30", "2001-02-30 is not a real date."),
    ("date_of_birth", "31/04/1990", "not a real date"),
    ("date_of_birth", "2099-01-01", "cannot be in the future"),
    ("date_of_birth", "1850-01-01", "more than 130 years"),
    ("date_of_birth", "yesterday", "Enter the date as"),
    ("phone", "12345", "Enter a Kenyan number"),
    ("phone", "0712 345 678 ext 2", "only digits"),
    ("phone", "+0712345678", "international number"),
    ("phone", "0812 345 678", "Enter a Kenyan number"),
    ("email", "not-an-email", "email address"),
    ("national_id", "12345678'; --", "letters, digits"),
    ("sex", "robot", "Choose one"),
    ("allergies", "x" * 2001, "At most 2000"),
    ("next_of_kin_phone", "call me", "only digits"),
]


@pytest.mark.parametrize("field,value,message", BAD)
def test_bad_input_gets_a_clear_message_keeps_what_was_typed_and_saves_nothing(app, desk, field, value, message):
    response = desk(**{field: value, "middle_name": "Kept Middle"})
    body = response.get_data(as_text=True)
    assert response.status_code == 422
    assert message in body
    assert 'id="error-%s"' % field in body and 'aria-invalid="true"' in body
    assert 'value="Kept Middle"' in body  # what was typed stays
    assert "<script>alert(1)</script>" not in body
    assert count_patients(app) == 0


def test_non_htmx_submission_also_refuses_with_the_form(app, desk):
    response = desk(htmx=False, date_of_birth="2001-02-30")
    assert response.status_code == 422
    assert "<html" in response.get_data(as_text=True)
    assert count_patients(app) == 0


def test_inline_validation_of_one_field(app, client, desk):
    bad = client.post("/patients/validate/phone", data={"phone": "12", "csrf_token": desk.token},
                      headers={"HX-Request": "true"})
    assert bad.status_code == 200 and "Enter a Kenyan number" in bad.get_data(as_text=True)
    good = client.post("/patients/validate/phone", data={"phone": "0712 345 678", "csrf_token": desk.token},
                       headers={"HX-Request": "true"})
    assert good.status_code == 200 and 'class="field-error"' in good.get_data(as_text=True)
    assert "Enter" not in good.get_data(as_text=True)
    assert client.post("/patients/validate/password_hash", data={"csrf_token": desk.token}).status_code == 404


def test_inline_validation_warns_of_a_duplicate_phone(app, client, desk):
    assert desk().status_code == 204
    hint = client.post("/patients/validate/phone", data={"phone": "+254712345678", "csrf_token": desk.token},
                       headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "Already registered" in hint and "Wanjiru Nyambura" in hint


@pytest.mark.parametrize("overrides", [{"first_name": "Grace", "last_name": "Otieno"},  # same phone
                                       {"phone": "0799 111 222", "first_name": "WANJIRU"},  # same name + DOB
                                       {"phone": "0799 111 222", "last_name": "Nyámbura",
                                        "date_of_birth": "17/05/1990"}])  # accents, other date format
def test_likely_duplicates_are_shown_before_saving_and_need_a_reason(app, desk, overrides):
    assert desk().status_code == 204
    shown = desk(**overrides)
    body = shown.get_data(as_text=True)
    assert shown.status_code == 409
    assert "already registered" in body and "Wanjiru Nyambura" in body and 'name="duplicate_reason"' in body
    assert count_patients(app) == 1
    continued = desk(duplicate_reason="Twin sister, shares the phone", **overrides)
    assert continued.status_code == 204
    assert count_patients(app) == 2
    with app.app_context():
        event = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
        assert event.detail["reason"] == "Twin sister, shares the phone"
        assert len(event.detail["possible_duplicates"]) == 1


def test_doctor_and_nurse_cannot_register(app, client, staff):
    for role in ("doctor", "nurse"):
        login(client, f"{role}1")
        assert client.get("/patients/new").status_code == 403
        client.post("/logout", data={"csrf_token": csrf_from(client.get("/patients/").get_data(as_text=True))})


# ---- edits on a version -----------------------------------------------------------

def registered_id(app) -> int:
    with app.app_context():
        return db.session.scalars(select(Patient.id)).one()


def test_edit_saves_and_bumps_the_version(app, desk):
    desk()
    patient_id = registered_id(app)
    response = desk(f"/patients/{patient_id}/edit", version="1", allergies="Latex")
    assert response.status_code == 204
    with app.app_context():
        patient = db.session.get(Patient, patient_id)
        assert (patient.allergies, patient.version) == ("Latex", 2)


def test_stale_edit_is_refused_with_the_current_values(app, desk):
    desk()
    patient_id = registered_id(app)
    assert desk(f"/patients/{patient_id}/edit", version="1", allergies="Latex").status_code == 204
    stale = desk(f"/patients/{patient_id}/edit", version="1", allergies="Penicillin")
    body = stale.get_data(as_text=True)
    assert stale.status_code == 409
    assert "Someone else changed this patient" in body
    assert "Latex" in body and "Penicillin" in body  # theirs (saved) and yours (typed)
    assert 'name="version" value="2"' in body
    with app.app_context():
        assert db.session.get(Patient, patient_id).allergies == "Latex"


@pytest.mark.pgbouncer  # run again through PgBouncer by make test
def test_concurrent_edits_on_the_same_version_one_wins(app, desk):
    desk()
    patient_id = registered_id(app)
    results = []
    barrier = threading.Barrier(2)

    def edit(allergy):
        with app.test_client() as own:
            login(own, "reception1")
            token = csrf_from(own.get(f"/patients/{patient_id}/edit").get_data(as_text=True))
            barrier.wait()
            results.append(own.post(f"/patients/{patient_id}/edit",
                                    data={**patient_form(allergies=allergy), "version": "1",
                                          "csrf_token": token}).status_code)

    threads = [threading.Thread(target=edit, args=(a,)) for a in ("Latex", "Iodine")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [303, 409]
    with app.app_context():
        assert db.session.get(Patient, patient_id).version == 2


def test_an_edit_that_makes_the_record_look_like_another_patient_needs_a_reason(app, desk):
    desk()
    desk(first_name="Brian", last_name="Ochieng", date_of_birth="1985-11-02", phone="0723 456 789")
    with app.app_context():
        brian = db.session.scalar(select(Patient.id).where(Patient.first_name == "Brian"))
    edit = dict(first_name="Brian", last_name="Ochieng", date_of_birth="1985-11-02")
    shown = desk(f"/patients/{brian}/edit", version="1", phone="0712 345 678", **edit)  # Wanjiru's phone
    body = shown.get_data(as_text=True)
    assert shown.status_code == 409 and "Wanjiru Nyambura" in body and 'name="duplicate_reason"' in body
    assert "0712 345 678" in body  # what was typed is kept
    with app.app_context():
        assert db.session.get(Patient, brian).phone == "+254723456789"
    saved = desk(f"/patients/{brian}/edit", version="1", phone="0712 345 678",
                 duplicate_reason="Wanjiru's husband, one phone for the family", **edit)
    assert saved.status_code == 204
    with app.app_context():
        assert db.session.get(Patient, brian).phone == "+254712345678"
        event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "patient.update")).one()
        assert event.detail["reason"] == "Wanjiru's husband, one phone for the family"
    # Later edits that leave name, birth date and phone alone do not ask again.
    again = desk(f"/patients/{brian}/edit", version="2", phone="0712 345 678", allergies="Latex", **edit)
    assert again.status_code == 204


@pytest.mark.parametrize("version", ["", "abc", "99"])
def test_edit_with_a_missing_or_wrong_version_changes_nothing(app, desk, version):
    desk()
    patient_id = registered_id(app)
    response = desk(f"/patients/{patient_id}/edit", version=version, allergies="Latex")
    assert response.status_code in (400, 409)
    with app.app_context():
        assert db.session.get(Patient, patient_id).allergies is None


@pytest.mark.pgbouncer  # run again through PgBouncer by make test
def test_two_desks_registering_the_same_person_at_once_see_the_duplicate(app, staff):
    """Real threads on real connections: exactly one registration is saved without a reason."""
    barrier = threading.Barrier(2)
    statuses = []

    def desk_registers():
        with app.test_client() as own:
            login(own, "reception1")
            token = csrf_from(own.get("/patients/new").get_data(as_text=True))
            barrier.wait()
            statuses.append(own.post("/patients/new", data={**patient_form(), "csrf_token": token},
                                     headers={"HX-Request": "true"}).status_code)

    threads = [threading.Thread(target=desk_registers) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [204, 409]
    assert count_patients(app) == 1


def test_a_too_long_duplicate_reason_is_refused_on_register_and_edit(app, desk):
    desk()
    refused = desk(duplicate_reason="x" * 600)
    assert refused.status_code == 422 and "Keep the reason under 500 characters" in refused.get_data(as_text=True)
    patient_id = registered_id(app)
    edited = desk(f"/patients/{patient_id}/edit", version="1", allergies="Latex", duplicate_reason="x" * 600)
    assert edited.status_code == 422 and "Keep the reason under 500 characters" in edited.get_data(as_text=True)
    assert count_patients(app) == 1
    with app.app_context():
        assert db.session.get(Patient, patient_id).allergies is None
