"""Security headers, request ids and logs, error pages and fragments, htmx helper, vendored assets."""
from __future__ import annotations

import hashlib
import logging
import os
import re
from html.parser import HTMLParser

import pytest
from flask import abort

from portal import ROOT, clinic_time
from portal.errors import fail
from portal.web import redirect_to, render, wants_fragment
from tests.helpers import add_route

VENDORED = {
    "htmx-2.0.11.min.js": "d6fdc75f204e6bdefa99b69bf1e6d4ac69b8a364f77929f45c13476b4000f717",
    "pico-2.1.1.min.css": "fbc9a63fc9fc9f72d12fd7fc9806e11fa9f77ae4f9cad146b27003a1119ba3db",
}


def test_vendored_files_match_their_release_checksums():
    folder = os.path.join(ROOT, "static", "vendor")
    found = {}
    for name in sorted(os.listdir(folder)):
        with open(os.path.join(folder, name), "rb") as handle:
            found[name] = hashlib.sha256(handle.read()).hexdigest()
    assert found == VENDORED


def test_the_test_only_axe_core_is_the_npm_release():
    """tests/e2e/vendor/axe.min.js: axe-core 4.14.1 from the npm registry (`npm pack axe-core@4.14.1`)."""
    with open(os.path.join(ROOT, "tests", "e2e", "vendor", "axe.min.js"), "rb") as handle:
        assert hashlib.sha256(handle.read()).hexdigest() == (
            "29348999450cdf2849a8e70b7912fc2da85a849da39c0d0d5394f51d4a9ed95c")


def test_layout_loads_the_vendored_files(client):
    body = client.get("/login").get_data(as_text=True)
    for name in VENDORED:
        assert f"/static/vendor/{name}" in body


# ---- headers ----------------------------------------------------------------

def check_security_headers(response):
    csp = response.headers["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in csp.split(";"))
    assert directives["script-src"] == "'self'" and directives["style-src"] == "'self'"
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert directives["frame-ancestors"] == "'none'" and directives["object-src"] == "'none'"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert "HX-Request" in response.headers["Vary"]


def test_security_headers_on_public_and_signed_in_pages(client, login_as):
    check_security_headers(client.get("/login"))
    signed_in = login_as("admin")
    page = signed_in.get("/admin/staff")
    assert page.status_code == 200
    check_security_headers(page)
    assert page.headers["Cache-Control"] == "no-store"
    fragment = signed_in.get("/admin/staff", headers={"HX-Request": "true"})
    check_security_headers(fragment)
    assert fragment.headers["Cache-Control"] == "no-store"
    check_security_headers(signed_in.get("/no/such/page"))


def test_static_files_may_be_cached(client):
    response = client.get("/static/app.css")
    assert response.status_code == 200 and response.headers.get("Cache-Control") != "no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_request_id_is_echoed_or_made(client):
    given = client.get("/healthz", headers={"X-Request-ID": "desk-42.abc"})
    assert given.headers["X-Request-ID"] == "desk-42.abc"
    made = client.get("/healthz")
    assert re.fullmatch(r"[0-9a-f]{32}", made.headers["X-Request-ID"])
    unsafe = client.get("/healthz", headers={"X-Request-ID": "bad id; rm -rf"})
    assert re.fullmatch(r"[0-9a-f]{32}", unsafe.headers["X-Request-ID"])


def test_one_log_line_per_request_with_id_method_route_status_duration(client, caplog):
    caplog.set_level(logging.INFO, logger="kliniki.request")
    client.get("/healthz", headers={"X-Request-ID": "abc123"})
    client.post("/login", data={})
    client.get("/static/app.css")
    lines = [r.getMessage() for r in caplog.records if r.name == "kliniki.request"]
    assert len(lines) == 2, lines
    assert re.fullmatch(r"id=abc123 method=GET route=/healthz status=200 duration_ms=\d+\.\d", lines[0])
    assert re.fullmatch(r"id=[0-9a-f]{32} method=POST route=/login status=400 duration_ms=\d+\.\d", lines[1])


# ---- error pages --------------------------------------------------------------

STATUSES = [400, 403, 404, 409, 422, 429, 500, 503]


@pytest.fixture(scope="module")
def error_app(database_url):
    """An app with one route per error status (built once: routes must precede the first request)."""
    from portal import create_app
    from tests.helpers import TEST_CONFIG
    app = create_app({**TEST_CONFIG, "SQLALCHEMY_DATABASE_URI": database_url})

    def boom(code):
        if code == 500:
            raise RuntimeError("an unexpected bug")
        if code == 409:
            fail(409, "This slot was just taken.")
        abort(code)
    add_route(app, "/_test/error/<int:code>", boom, methods=("GET", "POST"))
    yield app
    from portal.extensions import db
    with app.app_context():
        db.engine.dispose()


@pytest.mark.parametrize("code", STATUSES)
def test_error_pages_are_drawn_in_the_layout(error_app, code):
    response = error_app.test_client().get(f"/_test/error/{code}")
    assert response.status_code == code
    body = response.get_data(as_text=True)
    assert f'<article class="error-page" data-status="{code}">' in body
    assert "<main" in body and "/static/vendor/pico-2.1.1.min.css" in body
    assert "Reference: " + response.headers["X-Request-ID"] in body
    if code == 500:
        assert "an unexpected bug" not in body  # details are logged, not shown
    if code == 409:
        assert "This slot was just taken." in body


@pytest.mark.parametrize("code", STATUSES)
def test_errors_for_htmx_are_alert_fragments_for_the_flash_region(error_app, code):
    response = error_app.test_client().get(f"/_test/error/{code}", headers={"HX-Request": "true"})
    assert response.status_code == code
    body = response.get_data(as_text=True).strip()
    assert re.fullmatch(rf'<p class="alert alert-error" role="alert" data-status="{code}">.*</p>', body, re.S)
    assert response.headers["HX-Retarget"] == "#flash" and response.headers["HX-Reswap"] == "innerHTML"


def test_a_500_is_logged_with_its_traceback(error_app, caplog):
    error_app.test_client().get("/_test/error/500")
    assert "unhandled error" in caplog.text and "RuntimeError: an unexpected bug" in caplog.text


def test_too_large_a_request_is_refused(client):
    response = client.post("/login", data={"username": "x" * (2 * 1024 * 1024)})
    assert response.status_code == 413 and b'data-status="413"' in response.data


# ---- full page or fragment ------------------------------------------------------

@pytest.mark.parametrize("headers, fragment", [
    ({}, False),
    ({"HX-Request": "true"}, True),
    ({"HX-Request": "true", "HX-Boosted": "true"}, False),
    ({"HX-Request": "true", "HX-History-Restore-Request": "true"}, False),
])
def test_one_helper_decides_page_or_fragment(app, headers, fragment):
    with app.test_request_context("/admin/staff", headers=headers):
        assert wants_fragment() is fragment
        response = render("errors/page.html", block="content", title="T", message="M", status_code=200)
        body = response.get_data(as_text=True)
        assert ("<html" in body) is (not fragment)
        assert "HX-Request" in response.headers["Vary"]


def test_redirect_after_an_htmx_post_uses_hx_redirect(app):
    with app.test_request_context("/x", method="POST", headers={"HX-Request": "true"}):
        response = redirect_to("/admin/staff")
        assert response.status_code == 204 and response.headers["HX-Redirect"] == "/admin/staff"
    with app.test_request_context("/x", method="POST"):
        response = redirect_to("/admin/staff")
        assert response.status_code == 303 and response.headers["Location"] == "/admin/staff"


# ---- the CSP can hold: no inline script, style or handlers in any template ---------

INLINE = [
    (re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I), "inline <script>"),
    (re.compile(r"\sstyle\s*=", re.I), "style attribute"),
    (re.compile(r"<style", re.I), "<style> element"),
    (re.compile(r"\son[a-z]+\s*=", re.I), "on* handler attribute"),
    (re.compile(r"\shx-on[:-]", re.I), "hx-on attribute (needs eval)"),
    (re.compile(r"javascript:", re.I), "javascript: URL"),
]


def test_no_template_needs_unsafe_inline():
    offences = []
    for folder, _, files in os.walk(os.path.join(ROOT, "templates")):
        for name in files:
            path = os.path.join(folder, name)
            with open(path, encoding="utf-8") as handle:
                source = handle.read()
            for pattern, what in INLINE:
                if pattern.search(source):
                    offences.append(f"{os.path.relpath(path, ROOT)}: {what}")
    assert offences == []


class _InheritedTargets(HTMLParser):
    """Elements that make htmx requests without their own hx-target inside one that has one."""

    VOID = {"input", "meta", "link", "br", "img", "hr", "source", "wbr", "area", "base", "col", "embed"}

    def __init__(self):
        super().__init__()
        self.open: list[tuple[str, bool]] = []
        self.found: list[str] = []

    def handle_starttag(self, tag, attrs):
        names = {name for name, _ in attrs}
        requests = names & {"hx-get", "hx-post"}
        if requests and "hx-target" not in names and any(targeted for _, targeted in self.open):
            self.found.append(f"<{tag} {dict(attrs).get('id') or dict(attrs).get('name') or ''}> line "
                              f"{self.getpos()[0]}")
        if tag not in self.VOID:
            self.open.append((tag, "hx-target" in names))

    def handle_endtag(self, tag):
        for index in range(len(self.open) - 1, -1, -1):
            if self.open[index][0] == tag:
                del self.open[index:]
                break


def inherited_targets(source: str) -> list[str]:
    parser = _InheritedTargets()
    parser.feed(source)
    return parser.found


def test_the_target_scan_finds_an_inherited_target():
    form = '<form hx-post="/a" hx-target="#panel"><select hx-get="/b" hx-trigger="load"></select></form>'
    assert len(inherited_targets(form)) == 1
    assert inherited_targets(form.replace('hx-trigger', 'hx-target="this" hx-trigger')) == []


def test_no_htmx_request_inherits_the_target_of_an_enclosing_element():
    """htmx inherits hx-target: a select inside a form aimed at #panel would swap the whole panel."""
    found = {}
    for folder, _, files in os.walk(os.path.join(ROOT, "templates")):
        for name in files:
            path = os.path.join(folder, name)
            with open(path, encoding="utf-8") as handle:
                hits = inherited_targets(handle.read())
            if hits:
                found[os.path.relpath(path, ROOT)] = hits
    assert found == {}


def test_every_asset_the_layout_links_is_served(client):
    page = client.get("/login").get_data(as_text=True)
    assets = re.findall(r'(?:href|src)="(/static/[^"]+)"', page)
    assert any(a.endswith("favicon.svg") for a in assets), "the layout names an icon"
    for asset in assets:
        assert client.get(asset).status_code == 200, asset


# ---- templates: one base for what every page repeats ---------------------------

TEMPLATES = os.path.join(ROOT, "templates")


def _templates() -> dict[str, str]:
    found = {}
    for folder, _, names in os.walk(TEMPLATES):
        for name in names:
            path = os.path.join(folder, name)
            with open(path, encoding="utf-8") as handle:
                found[os.path.relpath(path, TEMPLATES)] = handle.read()
    return found


def test_csrf_inputs_come_from_the_forms_macro_only():
    written = [name for name, source in _templates().items()
               if 'name="csrf_token"' in source and name != os.path.join("macros", "forms.html")]
    assert written == []
    uses = sum(source.count("csrf_field()") for source in _templates().values())
    assert uses >= 19


def test_every_patients_page_shares_one_asset_block():
    pages = {name: source for name, source in _templates().items()
             if name.startswith("patients" + os.sep) and source.startswith("{% extends")}
    assert len(pages) == 5
    for name, source in pages.items():
        assert '{% include "patients/_assets.html" %}' in source, name
        assert "patients.css" not in source and "patients.js" not in source, name


def test_templates_ask_may_instead_of_naming_roles():
    conditions = re.compile(r"\{%[^%]*current_user\.role\s*(==|!=|in\b)[^%]*%\}")
    found = [(name, match.group(0)) for name, source in _templates().items() for match in conditions.finditer(source)]
    assert found == []


def test_the_appointment_panel_has_one_block_for_its_two_multi_step_actions():
    source = _templates()[os.path.join("schedule", "_appointment.html")]
    assert source.count("<details") == 1 and source.count("{% call panel_action(") == 2


def test_dates_are_shown_in_one_format_and_statuses_in_one_set_of_words():
    formats = re.compile(r"strftime\('%[dmYab]|\.isoformat\(\)\s*\}\}|replace\('_'")
    shown = [(name, line.strip()) for name, source in _templates().items() for line in source.splitlines()
             if formats.search(line) and 'type="date"' not in line and "date=" not in line]
    assert shown == []
    assert not any("status_label(" in source for source in _templates().values())


def test_irreversible_buttons_ask_for_confirmation():
    sources = _templates()
    assert 'data-confirm="Cancel this appointment?' in sources[os.path.join("schedule", "_appointment.html")]
    assert 'value="decline"' in sources[os.path.join("schedule", "_review_form.html")]
    assert 'data-confirm="Decline this' in sources[os.path.join("schedule", "_review_form.html")]
    assert 'data-confirm="Deactivate' in sources[os.path.join("admin", "staff.html")]


def test_filters_and_form_macros_render(app):
    from datetime import date, datetime, timezone

    from flask import render_template_string

    with app.test_request_context():
        rendered = render_template_string(
            "{{ day|clinic_date }}|{{ at|clinic_datetime }}|{{ day|long_date }}|{{ 'pending_review'|status_label }}"
            "|{{ 'no_show'|status_label }}",
            day=date(1990, 5, 17), at=datetime(2026, 12, 2, 11, 5, tzinfo=timezone.utc))
        at_clinic = clinic_time.local(datetime(2026, 12, 2, 11, 5, tzinfo=timezone.utc))  # 14:05 in Nairobi
        assert rendered == (f"17 May 1990|{at_clinic:%d %b %Y %H:%M}|Thu 17 May 1990|pending doctor review"
                            "|no show")
        form = render_template_string(
            '{% from "macros/forms.html" import csrf_field, field, money %}'
            '{{ csrf_field() }}{{ field("username", "Username", "amina", "Taken.", attrs={"maxlength": 64}) }}'
            '{{ money("amount", "1500") }}')
    assert 'name="csrf_token" type="hidden"' in form or 'type="hidden" name="csrf_token"' in form
    assert 'id="f-username"' in form and 'aria-invalid="true"' in form and 'maxlength="64"' in form
    assert '<small id="error-username" class="field-error">Taken.</small>' in form
    assert 'name="amount" type="text" value="1500"' in form and 'inputmode="decimal"' in form


def test_event_labels_are_words():
    from portal.labels import event_label

    assert event_label("review:ask_info") == "Doctor asked for more information"
    assert event_label("status", "checked_in") == "Marked checked in"
    assert event_label("cancelled", "cancelled") == "Cancelled"
    assert event_label("something_new") == "Something new"
