"""Each role signs in in Chromium and sees its own navigation, with no CSP violation."""
import re

import pytest

from tests.e2e.browser import VIEWPORTS, layout_problems, save_screenshot, sign_in
from tests.factories import ROLES

NAV_BY_ROLE = {
    "admin": {"Dashboard", "Schedule", "Day list", "Waiting room", "Notes", "Patients", "Doctors", "Bills",
              "Cash-up", "Staff"},
    "reception": {"Schedule", "Day list", "Waiting room", "Patients", "Doctors", "Bills", "Cash-up"},
    "doctor": {"My day", "Schedule", "Day list", "Waiting room", "Notes", "Patients"},
    "nurse": {"Schedule", "Day list", "Waiting room", "Patients"},
}


@pytest.mark.parametrize("role", ROLES)
def test_role_sees_its_navigation(new_page, base_url, staff, role):
    page = sign_in(new_page(), base_url, f"{role}1")
    links = set(page.locator("ul.main-nav a:not(.account)").all_inner_texts())
    assert links == NAV_BY_ROLE[role]
    assert page.locator("ul.main-nav a.account").inner_text().startswith("Test ")  # the account page
    assert page.console.csp_violations() == []
    assert page.console.missing() == []


def test_tablet_screenshot_is_saved(new_page, base_url, staff):
    page = sign_in(new_page(viewport=(768, 1024)), base_url, "reception1")
    path = save_screenshot(page, "tablet-reception-home")
    assert page.console.csp_violations() == []
    with open(path, "rb") as handle:
        assert handle.read(8) == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("viewport", VIEWPORTS, ids=list(VIEWPORTS))
@pytest.mark.parametrize("role, path", [("admin", "/admin/staff"), ("reception", "/schedule/"),
                                        ("nurse", "/schedule/list"), ("doctor", "/schedule/mine"),
                                        (None, "/login")])
def test_pages_fit_desk_and_tablet_with_44px_touch_targets(new_page, base_url, staff, viewport, role, path):
    page = new_page(viewport=VIEWPORTS[viewport])
    if role:
        sign_in(page, base_url, f"{role}1")
    page.goto(f"{base_url}{path}")
    page.wait_for_load_state("networkidle")
    assert layout_problems(page) == []
    assert page.console.csp_violations() == []
    save_screenshot(page, f"{viewport}-{(role or 'anonymous')}-{path.strip('/').replace('/', '-') or 'home'}")


def test_print_stylesheet_hides_navigation_and_controls(new_page, base_url, staff):
    page = sign_in(new_page(), base_url, "admin1")
    page.goto(f"{base_url}/admin/staff")
    assert page.locator("header.site-header").is_visible()
    page.emulate_media(media="print")
    assert not page.locator("header.site-header").is_visible()
    assert not page.locator("#staff-form").is_visible()
    assert page.locator("#staff-table").is_visible()


def test_expired_session_during_an_htmx_request_goes_to_login(new_page, base_url, staff):
    page = sign_in(new_page(), base_url, "admin1")
    page.goto(f"{base_url}/admin/staff")
    page.wait_for_load_state("networkidle")  # no late response may bring the cookie back
    page.context.clear_cookies()  # the session has ended (shift over, signed out elsewhere)
    page.fill("#staff-form input[name=username]", "late.nurse")
    page.fill("#staff-form input[name=full_name]", "Late Nurse")
    page.select_option("#staff-form select[name=role]", "nurse")
    page.fill("#staff-form input[name=password]", "a-long-enough-password")
    page.click("#staff-form button[type=submit]")
    page.wait_for_url(re.compile(r".*/login\?next="))
    assert "next=/admin/staff" in page.url
    assert page.locator("h1").inner_text() == "Sign in to Kliniki"
    assert page.console.csp_violations() == []


def test_csrf_failure_on_an_htmx_form_is_shown(new_page, base_url, staff):
    page = sign_in(new_page(), base_url, "admin1")
    page.goto(f"{base_url}/admin/staff")
    page.evaluate("""() => {
        document.body.setAttribute('hx-headers', JSON.stringify({'X-CSRFToken': 'forged'}));
        document.querySelector('#staff-form input[name=csrf_token]').value = 'forged';
    }""")
    page.fill("#staff-form input[name=username]", "forged.user")
    page.fill("#staff-form input[name=full_name]", "Forged User")
    page.select_option("#staff-form select[name=role]", "admin")
    page.fill("#staff-form input[name=password]", "a-long-enough-password")
    page.click("#staff-form button[type=submit]")
    alert = page.locator("#flash [role=alert]")
    alert.wait_for()
    assert "Form expired" in alert.inner_text()
    assert page.url == f"{base_url}/admin/staff"
    assert "forged.user" not in page.locator("#staff-table").inner_text()


def test_validation_errors_on_an_htmx_form_are_shown_in_place(new_page, base_url, staff):
    page = sign_in(new_page(), base_url, "admin1")
    page.goto(f"{base_url}/admin/staff")
    page.fill("#staff-form input[name=username]", "bad name!")
    page.fill("#staff-form input[name=full_name]", "Someone")
    page.select_option("#staff-form select[name=role]", "nurse")
    page.fill("#staff-form input[name=password]", "a-long-enough-password")
    page.click("#staff-form button[type=submit]")
    page.locator("#staff-form .field-error").wait_for()
    assert "Use letters, digits" in page.locator("#staff-form .field-error").inner_text()
    page.fill("#staff-form input[name=username]", "good.name")
    page.fill("#staff-form input[name=password]", "a-long-enough-password")
    page.click("#staff-form button[type=submit]")
    page.locator("#flash .alert-ok").wait_for()
    assert "good.name" in page.locator("#staff-table").inner_text()
    assert page.console.csp_violations() == []


def test_an_unreachable_server_during_an_htmx_request_is_shown(new_page, base_url, staff):
    page = sign_in(new_page(), base_url, "admin1")
    page.goto(f"{base_url}/admin/staff")
    page.route("**/admin/staff", lambda route: route.abort("connectionrefused"))
    page.fill("#staff-form input[name=username]", "offline.user")
    page.fill("#staff-form input[name=full_name]", "Offline User")
    page.select_option("#staff-form select[name=role]", "nurse")
    page.fill("#staff-form input[name=password]", "a-long-enough-password")
    page.click("#staff-form button[type=submit]")
    alert = page.locator("#flash [role=alert]")
    alert.wait_for()
    assert "could not be reached" in alert.inner_text()
    assert page.console.csp_violations() == []


def test_sign_out_everywhere_from_the_account_page_ends_the_other_browser_too(new_page, base_url, staff):
    desk = sign_in(new_page(), base_url, "nurse1")
    tablet = sign_in(new_page(viewport=(768, 1024)), base_url, "nurse1")
    desk.click("ul.main-nav a.account")
    desk.wait_for_url(f"{base_url}/account")
    assert desk.locator("#session-table tbody tr").count() == 2
    assert "(this browser)" in desk.locator("#session-table").inner_text()
    assert layout_problems(desk) == []
    desk.click("#sign-out-everywhere button")
    desk.wait_for_url(re.compile(r".*/login$"))
    assert "signed out everywhere" in desk.locator("#flash").inner_text()
    tablet.goto(f"{base_url}/schedule/list")
    tablet.wait_for_url(re.compile(r".*/login\?next="))
    assert tablet.locator("h1").inner_text() == "Sign in to Kliniki"
    assert desk.console.csp_violations() == [] and tablet.console.csp_violations() == []
