"""The admin signs in and lands on the dashboard, which renders its charts in Chromium without errors."""
from tests.dashboard.conftest import clinic  # noqa: F401  (the fixture)
from tests.e2e.browser import layout_problems, save_screenshot, sign_in


def problems(page) -> list[str]:
    """Console errors and warnings, page errors and missing resources (Chromium's verbose hints aside)."""
    return [m for m in page.console.messages if not m.startswith(("verbose:", "debug:", "info:", "log:"))]


def test_admin_lands_on_the_dashboard_and_it_renders_cleanly(new_page, base_url, clinic):  # noqa: F811
    page = sign_in(new_page(), base_url, "admin1")
    assert page.url == f"{base_url}/dashboard/"
    assert page.locator("h1").inner_text() == "Dashboard"
    assert page.locator("svg.chart").count() >= 4
    # The bars are drawn: the today-by-status chart has one bar per status, with a width.
    status_bars = page.locator("#chart-today-status rect.bar")
    assert status_bars.count() == 8
    assert status_bars.nth(5).bounding_box()["width"] > 0  # completed: 2 today
    # The range form reloads the page with the chosen dates.
    page.fill("#range-from", "2031-03-04")
    page.fill("#range-to", "2031-03-04")
    page.click(".range-form button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert "from=2031-03-04" in page.url
    assert "22.2%" in page.locator("#report-attendance").inner_text()
    assert problems(page) == []  # no console error or warning, page error, CSP report or 404
    assert layout_problems(page) == []
    save_screenshot(page, "desk-admin-dashboard")


def test_a_bad_range_shows_its_reason_in_the_browser(new_page, base_url, clinic):  # noqa: F811
    page = sign_in(new_page(), base_url, "admin1")
    page.goto(f"{base_url}/dashboard/?from=2031-03-05&to=2031-03-04")
    assert "starts after it ends" in page.locator("#range-error").inner_text()
    assert [m for m in problems(page) if "status of 422" not in m] == []
