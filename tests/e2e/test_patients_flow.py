"""Reception in Chromium: register a patient, find them by a phone typed another way, book from the profile."""
import re

from tests.e2e.conftest import save_screenshot, sign_in


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
