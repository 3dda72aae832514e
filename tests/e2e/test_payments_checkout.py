"""Reception in Chromium checks a patient out: the doctor's services on the bill, a partial cash payment
and an M-Pesa payment without a reload, the receipt, then closes the shift and prints the cash-up."""
from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone

from portal.actor import Actor
from portal.extensions import db
from portal.models import Appointment, Doctor, Patient, Service
from portal.payments import services
from tests.e2e.conftest import save_screenshot, sign_in


def test_reception_checks_a_patient_out_and_cashes_up(new_page, base_url, app, staff):
    with app.app_context():
        doctor = Doctor(user_id=staff["doctor"], name="Dr. Checkout", licence_number="KMPDC-E2E",
                        specialisation="General practice")
        patient = Patient(first_name="Wanjiku", last_name="Kamau", date_of_birth=date(1985, 3, 1), sex="female",
                          phone="+254712999001")
        consult = Service(code="CONS", name="Consultation", category="consultation", price_cents=150000)
        dressing = Service(code="DRS", name="Wound dressing", category="procedure", price_cents=80000)
        db.session.add_all([doctor, patient, consult, dressing])
        db.session.flush()
        start = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(minutes=40)
        visit = Appointment(patient_id=patient.id, doctor_id=doctor.id, starts_at=start,
                            ends_at=start + timedelta(minutes=30), status="completed")
        db.session.add(visit)
        db.session.commit()
        # What records' sign-off does at merge: the signed consultation's services on the visit's bill.
        with db.session.begin():
            bill_id = services.open_visit_bill(db.session, visit.id, Actor(staff["doctor"], "doctor"))
            services.charge_services(db.session, bill_id, [(consult.id, 1), (dressing.id, 1)],
                                     Actor(staff["doctor"], "doctor"), "consultation", 4242)
        patient_id = patient.id

    page = sign_in(new_page(), base_url, "reception1")
    page.goto(f"{base_url}/payments/shifts")
    page.fill("input[name=opening_float]", "2,000")
    page.click("#open-shift button[type=submit]")
    page.wait_for_url(re.compile(r"/payments/shifts/\d+$"))

    page.goto(f"{base_url}/patients/{patient_id}")
    assert "Owes Ksh 2,300.00" in page.inner_text(".patient-balance")
    page.goto(f"{base_url}/payments/bills/{bill_id}")
    lines = page.inner_text("#bill-lines")
    assert "Consultation" in lines and "Wound dressing" in lines and "consultation" in lines
    assert page.inner_text("#bill-balance") == "Ksh 2,300.00"

    # A partial cash payment: 1,000 of the balance from 1,500 handed over, change shown, no reload.
    page.evaluate("window.__marker = 'same page'")
    page.select_option("#payment-method", "cash")
    assert page.is_visible("input[name=tendered]") and not page.is_visible("input[name=mpesa_code]")
    page.fill("#payment-amount", "1,000")
    page.fill("input[name=tendered]", "1,500")
    page.click("#take-payment")
    page.wait_for_selector("#payment-posted")
    assert "change Ksh 500.00" in page.inner_text("#payment-posted")
    assert page.inner_text("#bill-status") == "Partly paid"
    assert page.inner_text("#bill-balance") == "Ksh 1,300.00"
    # Only what changed came back: the new payment's row joined the table, out of band.
    assert page.locator("#bill-payments tr[data-payment]").count() == 1 and not page.is_visible("#no-payments")

    # The rest by M-Pesa.
    page.select_option("#payment-method", "mpesa")
    page.fill("input[name=mpesa_code]", "QKT4XYZ789")
    page.click("#take-payment")
    page.wait_for_selector("#bill-status[data-status=paid]")
    assert page.inner_text("#bill-balance") == "Ksh 0.00"
    assert page.evaluate("window.__marker") == "same page"
    save_screenshot(page, "payments-bill-paid")

    # The receipt, then a reprint marked COPY.
    with page.expect_popup() as popup:
        page.click("#print-receipt")
    receipt = popup.value
    receipt.wait_for_load_state()
    text = receipt.inner_text("#receipt")
    assert re.search(r"Receipt R-\d{4}-\d{6}", text) and "QKT4XYZ789" in text and "COPY" not in text
    receipt.reload()
    assert receipt.inner_text("#copy-mark") == "COPY"
    receipt.emulate_media(media="print")
    assert not receipt.is_visible(".receipt-tools")
    receipt.close()

    # Close the shift: 2,000 float + 1,000 cash counted, 1,300 M-Pesa; then the cash-up.
    page.goto(f"{base_url}/payments/shifts")
    page.click("#my-shift")
    page.fill("input[name=counted_cash]", "3,000")
    page.fill("input[name=counted_mpesa]", "1,300")
    page.click("#close-shift-button")
    page.wait_for_selector("#shift-counts")
    page.goto(f"{base_url}/payments/report")
    assert page.inner_text("#day-taken") == "Ksh 2,300.00"
    page.emulate_media(media="print")
    assert not page.is_visible(".site-header")
    save_screenshot(page, "payments-cash-up")
    assert not page.console.csp_violations(), page.console.messages
    assert not [m for m in page.console.messages if m.startswith("pageerror")], page.console.messages
