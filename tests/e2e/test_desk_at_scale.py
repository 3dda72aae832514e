"""The day grid and the desk at clinic size (`flask seed`: 40+ doctors), in Chromium, at desk and tablet sizes."""
from __future__ import annotations

from datetime import timedelta

import pytest

from portal import clinic_time
from portal.schedule import queries
from tests.e2e.browser import VIEWPORTS, axe_violations, layout_problems, save_screenshot, sign_in

DOCTORS = 42


@pytest.fixture
def clinic(app, staff):
    """A clinic-scale seed (small on patients, full on doctors); returns the busiest coming weekday."""
    result = app.test_cli_runner().invoke(args=["seed", "--patients", "300", "--appointments", "1500",
                                                "--doctors", str(DOCTORS), "--random-seed", "12"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        days = [clinic_time.today() + timedelta(days=n) for n in range(1, 8)]
        counts = {day: len(queries.working_doctors(day)) for day in days}
    day = max(days, key=lambda d: (counts[d], -d.toordinal()))
    assert counts[day] >= 40, counts
    return day.isoformat(), counts[day]


GRID_FRAME = """() => {
    const frame = document.querySelector('#grid .grid-scroll');
    const heads = [...frame.querySelectorAll('thead th:not(.time)')];
    const box = (el) => el.getBoundingClientRect();
    return {columns: heads.length,
            narrowest: Math.min(...heads.map((th) => box(th).width)),
            // a name broken letter by letter wraps into many lines: keep it to two
            tallest_name: Math.max(...heads.map((th) => box(th).height)),
            scrolls_sideways: frame.scrollWidth > frame.clientWidth,
            frame_top: box(frame).top, frame_left: box(frame).left,
            head_top: box(heads[heads.length - 1]).top,
            time_left: box(frame.querySelector('tbody th.time')).left};
}"""


@pytest.mark.parametrize("viewport", ["desk", "tablet-landscape", "tablet-portrait"])
def test_forty_doctors_are_readable_and_names_and_times_stay_in_view(new_page, base_url, clinic, viewport):
    day, working = clinic
    page = sign_in(new_page(viewport=VIEWPORTS[viewport]), base_url, "reception1")
    page.goto(f"{base_url}/schedule/?date={day}")
    page.wait_for_selector("#grid table.day-grid")
    assert page.locator("#more-doctors").count() == 0  # nobody hidden
    before = page.evaluate(GRID_FRAME)
    save_screenshot(page, f"{viewport}-grid-{working}-doctors")
    assert before["columns"] == working, before
    assert before["narrowest"] >= 140, before  # a column wide enough for "Dr. Wanjiru Nyambura"
    assert before["tallest_name"] <= 90, before  # name and specialisation: three short lines at most
    assert before["scrolls_sideways"], before
    assert layout_problems(page) == []  # the page itself stays as wide as the window

    # Scroll the grid right and down: the doctors' row stays on top, the times on the left.
    page.evaluate("() => { const f = document.querySelector('#grid .grid-scroll');"
                  " f.scrollLeft = f.scrollWidth; f.scrollTop = 400; }")
    after = page.evaluate(GRID_FRAME)
    assert abs(after["head_top"] - after["frame_top"]) <= 2, after
    assert abs(after["time_left"] - after["frame_left"]) <= 2, after
    save_screenshot(page, f"{viewport}-grid-{working}-doctors-scrolled")


def test_the_grid_refresh_keeps_where_the_desk_had_scrolled(new_page, base_url, clinic):
    day, _ = clinic
    page = sign_in(new_page(), base_url, "reception1")
    page.goto(f"{base_url}/schedule/?date={day}")
    page.wait_for_selector("#grid table.day-grid")
    page.evaluate("() => { const f = document.querySelector('#grid .grid-scroll'); f.scrollLeft = 900;"
                  " f.scrollTop = 200; }")
    # A fresh grid arrives (as when another desk books): the poll swaps the whole #grid.
    page.evaluate("() => document.querySelector('#grid').setAttribute('data-marked', '1')")
    page.evaluate("() => htmx.ajax('GET', document.getElementById('grid').getAttribute('hx-get')"
                  ".replace(/v=[^&]*/, 'v=stale'), {source: '#grid', target: '#grid', swap: 'outerHTML'})")
    page.wait_for_function("() => !document.querySelector('#grid').hasAttribute('data-marked')")
    frame = page.evaluate("() => { const f = document.querySelector('#grid .grid-scroll');"
                          " return [f.scrollLeft, f.scrollTop]; }")
    assert frame == [900, 200]


def test_the_grid_at_forty_doctors_has_no_serious_accessibility_violation(new_page, base_url, clinic):
    """axe-core found 94 serious issues here before: unnamed slot buttons, aria-label on divs, the past legend."""
    day, _ = clinic
    page = sign_in(new_page(bypass_csp=True), base_url, "reception1")
    page.goto(f"{base_url}/schedule/?date={day}")
    page.wait_for_selector("#grid table.day-grid")
    assert axe_violations(page) == []
    button = page.locator("#grid .slot-button").first
    name = button.get_attribute("aria-label")
    assert name.startswith("Free, ") and ", Dr. " in name  # "Free, 14:00, Dr. Kamau"
    assert page.locator("div.slot[aria-label]").count() == 0
