"""HTMX-aware rendering: one place decides full page or fragment."""
from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

from flask import current_app, make_response, redirect, render_template, request, url_for
from jinja2_fragments.flask import render_block

from . import clinic_time, labels, validation

T = TypeVar("T")


def is_htmx() -> bool:
    """True for any request htmx made (used for redirects and error placement)."""
    return request.headers.get("HX-Request") == "true"


def wants_fragment() -> bool:
    """True when htmx asked for a part of a page, not a boosted or history-restore load."""
    return (is_htmx()
            and request.headers.get("HX-Boosted") != "true"
            and request.headers.get("HX-History-Restore-Request") != "true")


def render(template: str, block: str | None = None, status: int = 200, **context):
    """Render a page, or just its `block` when htmx asked for a fragment."""
    if block and wants_fragment():
        body = render_block(template, block, **context)
    else:
        body = render_template(template, **context)
    response = make_response(body, status)
    response.vary.add("HX-Request")
    return response


def render_fragment(template: str, status: int = 200, headers: dict | None = None, **context):
    """Render a `_partial.html` template as an htmx fragment."""
    response = make_response(render_template(template, **context), status)
    response.vary.add("HX-Request")
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


_ID_MARK = 987654321987  # stands for a row's id while a link is built once for a whole list


def around_id(endpoint: str, key: str, **values: object) -> tuple[str, str]:
    """The text of `endpoint`'s URL before and after its `key` id (building hundreds of links one by one was slow)."""
    before, _, after = url_for(endpoint, **{**values, key: _ID_MARK}).partition(str(_ID_MARK))  # type: ignore[arg-type]
    return before, after


class IdUrl:
    """A list's link to each row, `url(row.id)`, from the URL built once (a template's `id_url`)."""

    def __init__(self, endpoint: str, key: str, **values: object) -> None:
        self.before, self.after = around_id(endpoint, key, **values)

    def __call__(self, row_id: int) -> str:
        return f"{self.before}{int(row_id)}{self.after}"


def drawn_once(cache_name: str, key: tuple, draw: Callable[[], T], limit: int) -> T:
    """What `draw()` gives for `key`, drawn once in this app (a list's HTML keyed by the version of what
    it shows, read from the database every request); all dropped when `limit` are held."""
    cache = current_app.extensions.setdefault(cache_name, {})
    drawn = cache.get(key)
    if drawn is None:
        drawn = draw()
        if len(cache) >= limit:
            cache.clear()
        cache[key] = drawn
    return drawn


def recent_read(cache_name: str, key: object, held_at: int | None, window_s: float, read: Callable[[], str],
                limit: int) -> tuple[str, int]:
    """A version and when it was read (ms since the epoch): this worker's read of `key` from less than
    `window_s` ago unless the screen holds a later one (`held_at`, see held_read); without `held_at`
    (a page) it is read now. In a busy morning what a poll shows changed every second, and every
    screen read it and drew it again; one that much older is as good on a 10-second poll."""
    reads = current_app.extensions.setdefault(cache_name, {})
    seen = reads.get(key)
    now = int(time.time() * 1000)
    if held_at is not None and seen and seen[0] >= held_at and now - seen[0] < window_s * 1000:
        return seen[1], seen[0]
    version = read()
    if len(reads) >= limit:
        reads.clear()
    reads[key] = (now, version)
    return version, now


WROTE_AT_COOKIE = "kliniki_wrote_at"


def held_read() -> int:
    """When what a poll's screen shows was read (ms since the epoch): its URL's `at`, or when this
    browser last changed something, if later (a booking shows on its own screen at once, drawn out
    of band, and a poll must never take it back)."""
    at = validation.integer(request.args.get("at"), "time the screen was read", 0) or 0
    try:
        wrote = validation.integer(request.cookies.get(WROTE_AT_COOKIE), "time of the last change", 0) or 0
    except validation.BadInput:  # a mangled cookie: the next change sets it again
        wrote = 0
    return max(at, wrote)


def mark_write(response):
    """after_request: a change made through this browser sets when (held_read), for its next polls."""
    if request.method not in ("GET", "HEAD", "OPTIONS") and response.status_code < 400:
        response.set_cookie(WROTE_AT_COOKIE, str(int(time.time() * 1000)), httponly=True, samesite="Lax",
                            secure=current_app.config["SESSION_COOKIE_SECURE"])
    return response


def redirect_to(url: str):
    """Redirect a page, or tell htmx to navigate (a plain redirect would swap a page into a fragment)."""
    if is_htmx():
        response = make_response("", 204)
        response.headers["HX-Redirect"] = url
        return response
    return redirect(url, 303)


# One date format everywhere ("17 May 1990"); days on the schedule add the weekday, times add HH:MM.
DATE_FORMAT = "%d %b %Y"


def show_date(value) -> str:
    """A date, or an instant's clinic-local date, as people read it: "17 May 1990"."""
    if isinstance(value, datetime):
        value = clinic_time.local(value)
    return value.strftime(DATE_FORMAT)


def register_filters(app) -> None:
    """Template filters: dates and times in the clinic's zone and one format, status and event words."""
    local = clinic_time.local
    app.add_template_filter(show_date, "clinic_date")
    app.add_template_filter(lambda v: local(v).strftime(f"{DATE_FORMAT} %H:%M"), "clinic_datetime")
    app.add_template_filter(lambda v: local(v).strftime("%H:%M"), "clinic_time")
    app.add_template_filter(lambda v: v.strftime(f"%a {DATE_FORMAT}"), "long_date")
    app.add_template_filter(labels.status_label, "status_label")
    app.add_template_filter(lambda event: labels.event_label(event.action, event.to_status), "event_label")
    app.add_template_global(printed_at)
    app.add_template_global(IdUrl, "id_url")
    # The one way money is shown: integer cents through Babel's en_KE format ("Ksh 1,500.00").
    from .money import format_cents
    app.add_template_filter(format_cents, "money")


def printed_at() -> str:
    """When a page was made, for its printout's header: "02 Dec 2026 14:05"."""
    return clinic_time.local(clinic_time.now()).strftime(f"{DATE_FORMAT} %H:%M")
