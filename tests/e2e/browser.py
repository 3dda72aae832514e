"""Browser helpers for the Chromium tests: signing in like a person, screenshots, layout checks."""
from __future__ import annotations

import os
import re

from tests.factories import PASSWORD

ARTIFACTS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(__file__))), "test-artifacts")


def sign_in(page, base_url: str, username: str, password: str = PASSWORD):
    """Sign in through the login form like a person would."""
    page.goto(f"{base_url}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")
    return page


def save_screenshot(page, name: str) -> str:
    """Save a screenshot under test-artifacts/ and return its path."""
    os.makedirs(ARTIFACTS, exist_ok=True)
    path = os.path.join(ARTIFACTS, f"{name}.png")
    page.screenshot(path=path, full_page=True)
    return path


VIEWPORTS = {"desk": (1366, 768), "tablet-landscape": (1024, 768), "tablet-portrait": (768, 1024)}
TOUCH = "button, [role=button], input:not([type=hidden]), select, summary, ul.main-nav a"


def layout_problems(page) -> list[str]:
    """Horizontal overflow and touch targets smaller than 44 px on the current page."""
    return page.evaluate("""(selector) => {
        const problems = [];
        const doc = document.documentElement;
        if (doc.scrollWidth > window.innerWidth + 1) {
            problems.push(`page is ${doc.scrollWidth}px wide in a ${window.innerWidth}px window`);
        }
        for (const el of document.querySelectorAll(selector)) {
            // A checkbox's or radio's label is its touch target: a tap on the label toggles it.
            const label = el.matches('[type=checkbox], [type=radio]') ? el.closest('label') : null;
            const box = (label || el).getBoundingClientRect();
            if (box.width === 0 || box.height === 0) continue;  // not shown
            if (box.height < 44 || (el.matches('button, [role=button], a') && box.width < 44)) {
                problems.push(`${el.tagName.toLowerCase()} "${(el.innerText || el.name || '').trim()}" is ${Math.round(box.width)}x${Math.round(box.height)}`);
            }
        }
        return problems;
    }""", TOUCH)  # noqa: E501 (one line of JavaScript)


AXE = os.path.join(os.path.dirname(__file__), "vendor", "axe.min.js")  # axe-core 4.14.1, from npm


def axe_violations(page, impacts=("serious", "critical")) -> list[str]:
    """axe-core's WCAG 2 A/AA violations of these impacts on the page as it is now, one line each.

    The page must come from new_page(bypass_csp=True): the script tag is injected, and the
    app's Content-Security-Policy (script-src 'self') would refuse it.
    """
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.add_script_tag(path=AXE)
    results = page.evaluate("""async () => {
        const found = await axe.run(document, {runOnly: {type: 'tag',
            values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']}, resultTypes: ['violations']});
        return found.violations.map((v) => ({id: v.id, impact: v.impact, help: v.help,
                                              nodes: v.nodes.length,
                                              first: v.nodes[0] ? v.nodes[0].target.join(' ') : ''}));
    }""")
    return [f"{v['impact']} {v['id']} ({v['help']}): {v['nodes']} element(s), e.g. {v['first']}"
            for v in results if v["impact"] in impacts]


def open_day(page, base_url, day):
    page.goto(f"{base_url}/schedule/?date={day}")
    page.wait_for_selector("#grid table.day-grid")
    return page


def fill_booking(page, slot_id, patient_search, patient_name, reason):
    page.click(f"#cell-{slot_id} button")
    page.wait_for_selector("#booking-form")
    page.fill("#booking-form input[name=q]", patient_search)
    page.locator("#patient-options label", has_text=patient_name).click()
    page.fill("#booking-form textarea[name=reason]", reason)


def pdf_page_texts(pdf: bytes) -> list[str]:
    """The text drawn on each page of a PDF Chromium printed (its fonts' ToUnicode maps applied)."""
    import zlib

    streams = []
    # Each stream's bytes by its /Length: compressed data may itself end in "\r" (a pattern that
    # stops at "\r?\nendstream" then cut the stream short and lost that page's text).
    for match in re.finditer(rb"/Length (\d+)(?! \d+ R)[^>]*>>\s*stream\r?\n", pdf):
        data = pdf[match.end():match.end() + int(match.group(1))]
        try:
            streams.append(zlib.decompress(data))
        except zlib.error:
            continue
    glyphs: dict[int, str] = {}
    hexes = re.compile(rb"<([0-9A-Fa-f]+)>")
    for cmap in (s for s in streams if b"begincmap" in s):
        for section in re.findall(rb"beginbfchar(.*?)endbfchar", cmap, re.S):
            for line in section.strip().splitlines():
                code, char = hexes.findall(line)[:2]
                glyphs[int(code, 16)] = chr(int(char, 16))
        for section in re.findall(rb"beginbfrange(.*?)endbfrange", cmap, re.S):
            for line in section.strip().splitlines():
                low, high, first = (int(value, 16) for value in hexes.findall(line)[:3])
                for code in range(low, high + 1):
                    glyphs[code] = chr(first + code - low)
    pages = []
    for content in (s for s in streams if b" Tj" in s and b"begincmap" not in s):
        runs = re.findall(rb"<([0-9A-Fa-f]+)>\s*Tj", content)
        pages.append(" ".join("".join(glyphs.get(int(run[i:i + 4], 16), "?") for i in range(0, len(run), 4))
                              for run in runs))
    return pages
