"""What the desk sees while and after it acts: a busy bar, errors brought into view, Esc, confirmations, printouts."""
from __future__ import annotations

import re
from datetime import date

from portal.extensions import db
from portal.models import Patient
from tests.e2e.browser import fill_booking, open_day, pdf_page_texts, save_screenshot, sign_in


def test_every_htmx_request_shows_the_busy_bar_until_it_is_answered(new_page, base_url, staff, day_with_slots):
    day, slots = day_with_slots
    page = open_day(sign_in(new_page(), base_url, "reception1"), base_url, day)
    assert not page.locator("#busy").is_visible()
    held = []
    page.route(re.compile(r"/schedule/slots/\d+/book"), lambda route: held.append(route))
    page.click(f"#cell-{slots[0]} button")
    page.wait_for_selector("#busy", state="visible")  # while the slot's form is on its way
    assert page.locator(f"#cell-{slots[0]} button.htmx-request").count() == 1
    page.wait_for_function("() => true")  # let the route handler run
    assert held, "the request was not held"
    held[0].continue_()
    page.wait_for_selector("#booking-form")
    page.wait_for_selector("#busy", state="hidden")


def test_esc_closes_the_side_panel_and_focus_returns_to_the_slot(new_page, base_url, staff, day_with_slots):
    day, slots = day_with_slots
    page = open_day(sign_in(new_page(), base_url, "reception1"), base_url, day)
    page.click(f"#cell-{slots[2]} button")
    page.wait_for_selector("#booking-form")
    assert page.evaluate("() => document.getElementById('panel').contains(document.activeElement)")
    page.keyboard.press("Escape")
    page.wait_for_selector("#booking-form", state="detached")
    assert "Click a free slot to book it." in page.inner_text("#panel")
    assert page.evaluate(f"() => document.getElementById('cell-{slots[2]}').contains(document.activeElement)")


def test_cancelling_asks_first_and_no_changes_nothing(new_page, base_url, staff, day_with_slots):
    day, slots = day_with_slots
    page = open_day(sign_in(new_page(), base_url, "reception1"), base_url, day)
    fill_booking(page, slots[3], "Amani", "Amani Wanjiku", "Check-up")
    page.click("#booking-form button[type=submit]")
    page.wait_for_selector(f"#cell-{slots[3]}[data-state=booked]")
    page.click("#booked a")
    page.click("details.cancel summary")
    page.fill("details.cancel input[name=reason]", "Unwell")
    asked = []

    def answer(dialog, accept):
        asked.append(dialog.message)
        dialog.accept() if accept else dialog.dismiss()

    page.once("dialog", lambda dialog: answer(dialog, False))
    page.click("details.cancel button[type=submit]")
    page.wait_for_timeout(300)
    assert asked and "Cancel this appointment?" in asked[0]
    assert page.locator("#panel article[data-status=booked]").count() == 1  # nothing was sent
    page.once("dialog", lambda dialog: answer(dialog, True))
    page.click("details.cancel button[type=submit]")
    page.locator("#panel article[data-status=cancelled]").wait_for()
    assert len(asked) == 2


def test_deactivating_staff_asks_first(new_page, base_url, staff):
    page = sign_in(new_page(), base_url, "admin1")
    page.goto(f"{base_url}/admin/staff")
    row = page.locator("#staff-table tr", has_text="nurse1")
    page.once("dialog", lambda dialog: dialog.dismiss())
    row.locator("button", has_text="Deactivate").click()
    page.wait_for_timeout(300)
    assert row.locator("button", has_text="Deactivate").count() == 1  # still active: nothing was sent


def _in_view_and_focused(page, selector: str) -> dict:
    return page.evaluate("""(selector) => {
        const alert = document.querySelector(selector);
        const box = alert.getBoundingClientRect();
        return {in_view: box.top >= 0 && box.top < window.innerHeight,
                focused: alert === document.activeElement || alert.contains(document.activeElement)};
    }""", selector)


def test_errors_after_a_long_form_come_into_view_with_focus(new_page, base_url, app, staff):
    page = sign_in(new_page(), base_url, "reception1")
    page.goto(f"{base_url}/patients/new")
    page.fill("#f-first_name", "Wanjiru")
    page.click("#patient-form button[type=submit]")  # far down the page: the answer's alert is at the top
    page.wait_for_selector("#patient-form .alert-error[role=alert]")
    assert _in_view_and_focused(page, "#patient-form .alert-error[role=alert]") == {"in_view": True, "focused": True}
    save_screenshot(page, "desk-registration-errors-in-view")

    # A refused duplicate: the reason to register anyway is where the focus goes.
    with app.app_context():
        db.session.add(Patient(first_name="Wanjiru", last_name="Kariuki", date_of_birth=date(1990, 5, 17),
                               sex="female", phone="+254712345678"))
        db.session.commit()
    page.fill("#f-last_name", "Kariuki")
    page.fill("#f-date_of_birth", "17/05/1990")
    page.select_option("#f-sex", "female")
    page.fill("#f-phone", "0712 345 678")
    page.click("#patient-form > button[type=submit]")
    page.wait_for_selector("#patient-form .duplicates")
    assert _in_view_and_focused(page, "#patient-form .duplicates") == {"in_view": True, "focused": True}
    assert page.evaluate("() => document.activeElement.id") == "f-duplicate_reason"


def test_printouts_carry_the_clinic_the_print_time_and_page_numbers_on_every_page(new_page, base_url, staff):
    page = sign_in(new_page(), base_url, "nurse1")
    page.goto(f"{base_url}/schedule/list")
    assert not page.locator(".print-header").is_visible()  # its words go into the page margins
    page.evaluate("() => { const main = document.querySelector('main'); for (let i = 0; i < 200; i++) {"
                  " const line = document.createElement('p'); line.textContent = 'Line ' + i; main.append(line); } }")
    page.evaluate("() => window.dispatchEvent(new Event('beforeprint'))")
    texts = pdf_page_texts(page.pdf(format="A4"))
    assert len(texts) >= 3, texts
    for number, text in enumerate(texts, start=1):
        flat = text.replace(" ", "")
        assert "Kliniki·Daylist" in flat, text
        assert re.search(r"Printed\d\d[A-Z][a-z]{2}\d{4}\d\d:\d\dbyTestNurse", flat), text
        assert f"Page{number}of{len(texts)}" in flat, text
        assert "Confidentialpatientinformation" in flat.replace("\ufb01", "fi"), text


def test_clearing_a_doctors_active_box_asks_first(new_page, base_url, app, staff):
    from tests.factories import make_doctor
    doctor_id = make_doctor(app, name="Dr. Achieng Odhiambo")
    page = sign_in(new_page(), base_url, "admin1")
    page.goto(f"{base_url}/schedule/doctors/{doctor_id}")
    page.click("details.profile summary")
    asked = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
    page.uncheck("details.profile input[name=is_active]")
    page.click("details.profile button[type=submit]")
    page.wait_for_timeout(300)
    assert asked and "Stop this doctor taking appointments?" in asked[0]
    with app.app_context():
        assert db.session.execute(db.text("SELECT is_active FROM doctor WHERE id = :i"), {"i": doctor_id}).scalar()
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("details.profile button[type=submit]")
    page.wait_for_load_state()
    page.wait_for_timeout(300)
    with app.app_context():
        assert not db.session.execute(db.text("SELECT is_active FROM doctor WHERE id = :i"), {"i": doctor_id}).scalar()
