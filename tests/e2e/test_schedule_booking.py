"""Reception books in Chromium; another desk sees it within the refresh; two desks race for one slot."""
from __future__ import annotations

import pytest

from portal.extensions import db
from portal.models import Doctor
from tests.e2e.browser import VIEWPORTS, fill_booking, layout_problems, open_day, save_screenshot, sign_in
from tests.factories import make_doctor, make_slots

REFRESH_MS = 15_000


def test_reception_books_and_another_desk_sees_it(new_page, base_url, staff, day_with_slots):
    day, slots = day_with_slots
    desk_a = open_day(sign_in(new_page(), base_url, "reception1"), base_url, day)
    desk_b = open_day(sign_in(new_page(), base_url, "reception1"), base_url, day)
    desk_a.evaluate("window.kliniki_no_reload = true")

    fill_booking(desk_a, slots[2], "Amani", "Amani Wanjiku", "Post-op review")
    desk_a.click("#booking-form button[type=submit]")
    desk_a.wait_for_selector(f"#cell-{slots[2]}[data-state=booked]")
    assert "Amani Wanjiku" in desk_a.inner_text(f"#cell-{slots[2]}")
    assert "Booked" in desk_a.inner_text("#panel")
    assert desk_a.evaluate("window.kliniki_no_reload") is True  # the cell changed without a reload

    desk_b.wait_for_selector(f"#cell-{slots[2]}[data-state=booked]", timeout=REFRESH_MS)
    assert "Amani Wanjiku" in desk_b.inner_text(f"#cell-{slots[2]}")
    save_screenshot(desk_b, "schedule-second-desk-sees-booking")
    assert desk_a.console.csp_violations() == [] and desk_b.console.csp_violations() == []


def test_two_desks_click_the_same_slot_one_gets_just_taken(new_page, base_url, staff, day_with_slots):
    day, slots = day_with_slots
    desks = [open_day(sign_in(new_page(), base_url, "reception1"), base_url, day) for _ in range(2)]
    fill_booking(desks[0], slots[4], "Baraka", "Baraka Wanjiku", "Desk one")
    fill_booking(desks[1], slots[4], "Chege", "Chege Wanjiku", "Desk two keeps this")
    for desk in desks:
        desk.click("#booking-form button[type=submit]")
    for desk in desks:
        desk.wait_for_selector("#booked, #booking-error, #flash [role=alert]")
    shown = [desk.inner_text("#panel") + " | " + desk.inner_text("#flash") for desk in desks]
    outcomes = sorted("booked" if desk.locator("#booked").count() else "taken" for desk in desks)
    assert outcomes == ["booked", "taken"], shown
    loser = next(desk for desk in desks if desk.locator("#booking-error").count())
    assert "just taken" in loser.inner_text("#booking-error"), shown
    assert loser.locator(f"#cell-{slots[4]}[data-state=booked]").count() == 1  # refreshed cell
    assert loser.input_value("#booking-form textarea[name=reason]") in ("Desk one", "Desk two keeps this")
    assert loser.locator("#booking-form input[name=patient_id]:checked").count() == 1
    save_screenshot(loser, "schedule-just-taken")
    for desk in desks:
        assert desk.console.csp_violations() == []


def test_date_navigation_keeps_url_in_step(new_page, base_url, staff, day_with_slots):
    day, _ = day_with_slots
    page = open_day(sign_in(new_page(), base_url, "reception1"), base_url, day)
    page.click("a[data-nav='3']")  # next day
    page.wait_for_url(lambda url: "date=" in url and day not in url)
    assert "date=" in page.url and day not in page.url
    page.go_back()
    page.wait_for_selector("#grid table.day-grid")
    assert day in page.url
    page.reload()
    assert page.locator("#grid table.day-grid").count() == 1  # a pushed URL opened directly: full page


def test_a_swapped_in_form_is_live_the_moment_it_appears(new_page, base_url, staff, day_with_slots):
    """Typing into the booking form as soon as it shows still searches: htmx wires new content on swap."""
    day, slots = day_with_slots
    page = open_day(sign_in(new_page(), base_url, "reception1"), base_url, day)
    # Type from a MutationObserver, i.e. in the first microtask after the form is inserted:
    # with htmx's default 20 ms settle delay the box is still inert then and the typing is lost.
    page.evaluate("""() => new MutationObserver((records, observer) => {
        const box = document.querySelector('#booking-form input[name=q]');
        if (!box) { return; }
        observer.disconnect();
        box.value = 'Amani';
        box.dispatchEvent(new Event('input', {bubbles: true}));
    }).observe(document.getElementById('panel'), {childList: true, subtree: true})""")
    page.click(f"#cell-{slots[1]} button")
    page.locator("#patient-options label", has_text="Amani Wanjiku").wait_for(timeout=5_000)


@pytest.mark.parametrize("viewport", ["desk", "tablet-landscape"])
def test_patient_matches_stack_inside_the_booking_panel(new_page, base_url, staff, day_with_slots, viewport):
    """Each match is a row of its own that fits the side panel: nothing pushes the page sideways."""
    day, slots = day_with_slots
    page = open_day(sign_in(new_page(viewport=VIEWPORTS[viewport]), base_url, "reception1"), base_url, day)
    page.click(f"#cell-{slots[1]} button")
    page.fill("#booking-form input[name=q]", "Wanjiku")
    options = page.locator("#patient-options label")
    options.nth(2).wait_for(timeout=5_000)
    tops = [options.nth(i).bounding_box()["y"] for i in range(3)]
    assert tops == sorted(tops) and len(set(tops)) == 3  # one under the other, not side by side
    panel = page.locator("#panel").bounding_box()
    for i in range(3):
        box = options.nth(i).bounding_box()
        assert box["x"] + box["width"] <= panel["x"] + panel["width"] + 1
    assert layout_problems(page) == []
    save_screenshot(page, f"{viewport}-booking-panel-patient-matches")


def test_reception_moves_an_appointment_to_another_doctor(new_page, base_url, app, staff, day_with_slots):
    day, slots = day_with_slots
    other_id = make_doctor(app, "Dr. Second", "KMPDC-E2E-2", "Aesthetics")
    other_slots = make_slots(app, other_id, day_offset=1, count=8)
    page = open_day(sign_in(new_page(), base_url, "reception1"), base_url, day)
    fill_booking(page, slots[0], "Amani", "Amani Wanjiku", "Moves to Dr. Second")
    page.click("#booking-form button[type=submit]")
    page.wait_for_selector(f"#cell-{slots[0]}[data-state=booked]")

    page.click(f"#cell-{slots[0]} a")
    page.click("details.reschedule summary")
    page.wait_for_selector(f"#reschedule-slot option[value='{slots[1]}']", state="attached")  # same doctor first
    page.select_option("#reschedule-doctor", str(other_id))
    page.wait_for_selector(f"#reschedule-slot option[value='{other_slots[3]}']", state="attached")
    page.select_option("#reschedule-slot", str(other_slots[3]))
    page.click("details.reschedule button[type=submit]")
    page.wait_for_selector(f"#cell-{other_slots[3]}[data-state=booked]")
    assert "Moved" in page.inner_text("#panel") and "Dr. Second" in page.inner_text("#panel")
    assert page.locator(f"#cell-{slots[0]}[data-state=free]").count() == 1
    assert page.console.csp_violations() == []


def test_a_consultation_request_goes_between_reception_and_the_doctors_tablet(new_page, base_url, staff,
                                                                              day_with_slots):
    day, slots = day_with_slots
    desk = open_day(sign_in(new_page(), base_url, "reception1"), base_url, day)
    fill_booking(desk, slots[3], "Chege", "Chege Wanjiku", "Rhinoplasty consultation")
    desk.check("#booking-form input[name=pending_review]")
    desk.click("#booking-form button[type=submit]")
    desk.wait_for_selector(f"#cell-{slots[3]}[data-state=booked]")
    assert "pending doctor review" in desk.inner_text(f"#cell-{slots[3]}")

    tablet = sign_in(new_page(viewport=(768, 1024)), base_url, "doctor1")
    assert tablet.url.endswith("/schedule/mine")
    request = tablet.locator(".request", has_text="Chege Wanjiku")
    request.locator("textarea[name=notes]").fill("Please bring the referral letter.")
    request.locator("button[value=ask_info]").click()
    tablet.locator(".request", has_text="Asked reception for more information.").wait_for()

    desk.goto(f"{base_url}/schedule/?date={day}")
    desk.click("details.questions a")
    desk.fill("form.answer textarea[name=answer]", "She will bring it on the day.")
    desk.click("form.answer button[type=submit]")
    desk.locator("#panel", has_text="Sent to the doctor for review again.").wait_for()

    tablet.reload()
    request = tablet.locator(".request", has_text="Chege Wanjiku")
    assert "She will bring it on the day." in request.inner_text()
    request.locator("button[value=approve]").click()
    tablet.locator(".request", has_text="Approved.").wait_for()
    save_screenshot(tablet, "tablet-doctor-approves-request")
    desk.goto(f"{base_url}/schedule/?date={day}")
    assert "booked" in desk.inner_text(f"#cell-{slots[3]}")
    assert desk.locator("details.questions").count() == 0
    assert desk.console.csp_violations() == [] and tablet.console.csp_violations() == []


def test_reception_confirms_then_cancels_and_the_slot_is_free_again(new_page, base_url, staff, day_with_slots):
    day, slots = day_with_slots
    desk = open_day(sign_in(new_page(), base_url, "reception1"), base_url, day)
    fill_booking(desk, slots[5], "Baraka", "Baraka Wanjiku", "Follow-up")
    desk.click("#booking-form button[type=submit]")
    desk.wait_for_selector(f"#cell-{slots[5]}[data-state=booked]")
    desk.click("#booked a")
    desk.click("#panel button[data-to=confirmed]")
    desk.locator("#panel article[data-status=confirmed]").wait_for()
    assert "confirmed" in desk.inner_text(f"#cell-{slots[5]}")
    desk.click("details.cancel summary")
    desk.select_option("details.cancel select[name=by]", "patient")
    desk.fill("details.cancel input[name=reason]", "Travelling that week")
    desk.once("dialog", lambda dialog: dialog.accept())  # "Cancel this appointment?"
    desk.click("details.cancel button[type=submit]")
    desk.locator("#panel article[data-status=cancelled]").wait_for()
    desk.wait_for_selector(f"#cell-{slots[5]}[data-state=free] button")
    assert "Travelling that week" in desk.inner_text("#panel")
    assert desk.console.csp_violations() == []


def test_admin_unticks_active_and_reception_is_told_what_to_move(new_page, base_url, app, staff, day_with_slots):
    day, slots = day_with_slots
    desk = open_day(sign_in(new_page(), base_url, "reception1"), base_url, day)
    fill_booking(desk, slots[6], "Amani", "Amani Wanjiku", "Before the doctor leaves")
    desk.click("#booking-form button[type=submit]")
    desk.wait_for_selector(f"#cell-{slots[6]}[data-state=booked]")

    admin = sign_in(new_page(), base_url, "admin1")
    with app.app_context():
        doctor_id = db.session.query(Doctor.id).filter_by(licence_number="KMPDC-E2E").scalar()
    admin.goto(f"{base_url}/schedule/doctors/{doctor_id}")
    admin.click("details.profile summary")
    profile = admin.locator("details.profile form")
    profile.locator("input[name=is_active]").uncheck()
    admin.once("dialog", lambda dialog: dialog.accept())  # "Stop this doctor taking appointments?"
    profile.locator("button[type=submit]").click()
    admin.locator("#flash", has_text="1 future appointment(s) with this doctor must move").wait_for()

    desk.goto(f"{base_url}/schedule/?date={day}")
    listed = desk.locator("details.needs-rescheduling")
    assert "Amani Wanjiku" in listed.inner_text() and "no longer takes appointments" in listed.inner_text()
    assert desk.locator("#grid", has_text="No doctor works on").count() == 1  # gone from the grid
