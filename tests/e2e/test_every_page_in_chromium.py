"""Each role opens its pages over the demo data in Chromium, on its own screen: no script or htmx error,
nothing missing, nothing wider than the screen, touch targets of 44 px."""
import pytest
from sqlalchemy import select

from portal import clinic_time
from portal.extensions import db
from portal.models import Appointment, Doctor, Patient, StaffUser
from portal.seed import DEMO_PASSWORD, seed_demo
from tests.e2e.browser import axe_violations, layout_problems, save_screenshot, sign_in

# Reception and admin at a desk, nurses on a landscape tablet at the station, doctors on a portrait tablet.
SCREENS = {"admin": (1366, 768), "reception": (1366, 768), "nurse": (1024, 768), "dr.mwangi": (768, 1024)}
PAGES = {
    "admin": ["/admin/staff", "/schedule/", "/schedule/doctors", "/schedule/doctors/{doctor}",
              "/patients/list", "/patients/{patient}", "/admin/patients/{patient}/access",
              "/admin/staff/{nurse_user}/activity"],
    "reception": ["/schedule/", "/schedule/?date={tomorrow}", "/schedule/appointments/{appointment}",
                  "/schedule/list", "/patients/", "/patients/?q=kamau", "/patients/new",
                  "/patients/list?pending=1", "/patients/{patient}", "/patients/{patient}/edit",
                  "/schedule/?patient_id={patient}"],
    "nurse": ["/schedule/list", "/schedule/list?doctor={doctor}", "/schedule/", "/patients/?q=0712",
              "/patients/{patient}"],
    "dr.mwangi": ["/schedule/mine", "/schedule/my-availability", "/schedule/appointments/{appointment}",
                  "/schedule/list", "/patients/{patient}"],
}


@pytest.fixture
def demo(app):
    """The demo clinic of `make run`; returns ids and dates the page paths need."""

    with app.app_context():
        seed_demo()
        mwangi = db.session.scalar(select(Doctor.id).where(Doctor.licence_number == "KMPDC-A1001"))
        latest = db.session.execute(select(Appointment.id, Appointment.starts_at)
                                    .where(Appointment.doctor_id == mwangi)
                                    .order_by(Appointment.starts_at.desc())).first()
        return {"doctor": mwangi,
                "patient": db.session.scalar(select(Patient.id).order_by(Patient.id)),
                "appointment": latest.id,
                # A day with rows in Dr. Mwangi's list, whatever the time of day the tests run at.
                "appointment_day": clinic_time.local_date(latest.starts_at).isoformat(),
                "tomorrow": date_after(clinic_time.today()),
                "nurse_user": db.session.scalar(select(StaffUser.id).where(StaffUser.role == "nurse"))}


def date_after(day) -> str:
    return day.fromordinal(day.toordinal() + 1).isoformat()


@pytest.mark.parametrize("user", list(PAGES))
def test_every_page_opens_without_an_error(new_page, base_url, demo, user):
    page = sign_in(new_page(viewport=SCREENS[user]), base_url, user, DEMO_PASSWORD)
    problems = []
    for path in PAGES[user]:
        url = base_url + path.format(**demo)
        before = len(page.console.messages)
        response = page.goto(url)
        page.wait_for_load_state("networkidle")  # load-triggered htmx requests included
        errors = [m for m in page.console.messages[before:] if m.startswith(("error", "pageerror", "missing"))]
        if response.status != 200 or errors:
            problems.append(f"{path}: HTTP {response.status} {errors}")
        problems.extend(f"{path}: {problem}" for problem in layout_problems(page))
    assert problems == [], "\n".join(problems)


def _day_list_frame(page) -> dict:
    return page.evaluate("""() => {
        const frame = document.querySelector('.table-scroll');
        return {overflow: frame.scrollWidth - frame.clientWidth,
                header: getComputedStyle(document.querySelector('#day-list thead')).display,
                phone_label: getComputedStyle(
                    document.querySelector('#day-list td[data-label=Phone]'), '::before').content};
    }""")


def test_day_list_reflows_on_a_portrait_tablet_and_stays_a_table_at_the_desk(new_page, base_url, demo):
    page = sign_in(new_page(viewport=SCREENS["dr.mwangi"]), base_url, "dr.mwangi", DEMO_PASSWORD)
    page.goto(f"{base_url}/schedule/list?date={demo['appointment_day']}")
    tablet = _day_list_frame(page)
    save_screenshot(page, "tablet-portrait-day-list")
    assert tablet["overflow"] <= 1, tablet  # nothing to scroll sideways on a 768 px screen
    assert tablet["header"] == "none" and tablet["phone_label"] == '"Phone: "', tablet
    page.emulate_media(media="print")  # the printed list keeps its columns
    assert _day_list_frame(page)["header"] != "none"
    page.set_viewport_size({"width": 1366, "height": 768})
    page.emulate_media(media="screen")
    desk = _day_list_frame(page)
    assert desk["header"] != "none" and desk["overflow"] <= 1 and desk["phone_label"] == "none", desk


@pytest.mark.parametrize("user", list(PAGES))
def test_no_serious_or_critical_accessibility_violation_on_any_page(new_page, base_url, demo, user):
    """axe-core over every page of every role, and the side panel open on the reception grid."""
    page = sign_in(new_page(viewport=SCREENS[user], bypass_csp=True), base_url, user, DEMO_PASSWORD)
    problems = []
    for path in PAGES[user]:
        page.goto(base_url + path.format(**demo))
        page.wait_for_load_state("networkidle")
        problems.extend(f"{path}: {line}" for line in axe_violations(page))
    if user == "reception":  # the booking form and an appointment, as they open beside the grid
        page.goto(f"{base_url}/schedule/?date={demo['tomorrow']}")
        page.locator("#grid .slot-button").first.click()
        page.wait_for_selector("#booking-form")
        problems.extend(f"booking panel: {line}" for line in axe_violations(page))
        page.goto(f"{base_url}/schedule/?date={demo['appointment_day']}")
        page.locator("#grid .slot.booked a").first.click()
        page.wait_for_selector("#panel article.appointment")
        problems.extend(f"appointment panel: {line}" for line in axe_violations(page))
    assert problems == [], "\n".join(problems)
