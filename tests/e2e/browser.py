"""Browser helpers for the Chromium tests: signing in like a person, screenshots, layout checks."""
from __future__ import annotations

import os

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
