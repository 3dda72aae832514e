"""Reception in Chromium: register a patient, find them by a phone typed another way, book from the profile."""
import re

from tests.e2e.browser import save_screenshot, sign_in
from tests.factories import make_patient


def test_register_find_open_and_book(new_page, base_url, staff):
    page = sign_in(new_page(), base_url, "reception1")
    page.goto(f"{base_url}/patients/new")

    # Inline validation as a field is left: an impossible date is flagged before submitting.
    page.fill("#f-date_of_birth", "2001-02-30")
    page.press("#f-date_of_birth", "Tab")
    page.wait_for_selector("#error-date_of_birth:has-text('not a real date')")

    page.fill("#f-first_name", "Akinyi")
    page.fill("#f-last_name", "N'Dege-Ouma")
    page.fill("#f-date_of_birth", "17/05/1990")
    page.select_option("#f-sex", "female")
    page.fill("#f-phone", "0712 345 678")
    page.fill("#f-allergies", "Penicillin")
    page.check("#f-consent_data_processing")
    page.click("#patient-form button[type=submit]")
    page.wait_for_url(re.compile(r"/patients/\d+\?registered=1$"))
    assert "Akinyi N'Dege-Ouma" in page.inner_text("h1")
    assert "Penicillin" in page.inner_text(".allergies")
    patient_id = re.search(r"/patients/(\d+)", page.url).group(1)

    # Find her by the phone typed in another format, results appearing as it is typed.
    page.goto(f"{base_url}/patients/")
    page.fill("#patient-search-box", "254-712-345678")
    hit = page.wait_for_selector(f".patient-hit[data-patient-id='{patient_id}']")
    assert "…5678" in hit.inner_text() and "KL-" in hit.inner_text()
    save_screenshot(page, "patients-search-by-phone")

    # Keyboard: arrow down into the results, Enter opens the profile.
    page.focus("#patient-search-box")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{base_url}/patients/{patient_id}")

    # Tabs load on demand.
    page.click("#tab-upcoming")
    page.wait_for_selector("#appointments-upcoming")
    page.click("#tab-details")
    page.wait_for_selector("#details-panel")

    page.click("#book-appointment")
    page.wait_for_load_state("networkidle")
    assert f"patient_id={patient_id}" in page.url
    assert "Akinyi N'Dege-Ouma" in page.inner_text("#booking-for")
    assert page.console.csp_violations() == []


def test_an_edit_made_on_a_stale_copy_shows_what_changed_and_saves_nothing(new_page, base_url, app, staff):
    from datetime import date

    from portal.extensions import db
    from portal.models import Patient

    patient_id = make_patient(app, "Zawadi", "Achieng", date(1988, 4, 2), phone="+254712000555",
                              consent_data_processing=True)
    tabs = [sign_in(new_page(), base_url, "reception1") for _ in range(2)]
    for tab in tabs:
        tab.goto(f"{base_url}/patients/{patient_id}/edit")
    first, second = tabs
    first.fill("#f-phone", "0722 000 111")
    first.click("#patient-form button[type=submit]")
    first.wait_for_url(f"{base_url}/patients/{patient_id}")

    second.fill("#f-allergies", "Latex")
    second.click("#patient-form button[type=submit]")
    second.locator("#patient-form .stale").wait_for()
    changed = second.inner_text(".current-values")
    assert "+254722000111" in changed and "+254712000555" in changed
    with app.app_context():
        saved = db.session.get(Patient, patient_id)
        assert (saved.phone, saved.allergies) == ("+254722000111", None)

    second.fill("#f-phone", "+254722000111")  # keep the other desk's new number, then save again
    second.click("#patient-form button[type=submit]")
    second.wait_for_url(f"{base_url}/patients/{patient_id}")
    assert "Latex" in second.inner_text(".allergies")
    assert second.console.csp_violations() == []
