"""Shared validation: reading values from requests and forms (ids, integers, dates, times, text).

Every view parses what the request sent through these functions, so an out-of-range integer,
a unicode digit, a NUL byte or a time with an offset is a clear 422 (BadInput), never a 500.
They take the raw value and know nothing of Flask; the label names the value for the user.
"""
from __future__ import annotations

import re
import unicodedata
from datetime import date, time

from .domain import BadInput

__all__ = ["BadInput", "EMAIL", "clock_time", "choice", "day", "flag", "has_control_characters", "integer",
           "is_email", "row_id", "required_row_id", "search_term", "text"]

BIGINT_MAX = 2**63 - 1
MIN_YEAR, MAX_YEAR = 2000, 2100
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_ASCII_INTEGER = re.compile(r"[+-]?[0-9]{1,19}")
_LINE_BREAKS = frozenset("\n\r\t")


def has_control_characters(value: str, multiline: bool = False) -> bool:
    """True when text holds characters no form field may store (NUL, escapes, surrogates).

    Line breaks and tabs are allowed in multi-line text.
    """
    allowed = _LINE_BREAKS if multiline else frozenset()
    return any(unicodedata.category(ch) in ("Cc", "Cs", "Co") and ch not in allowed for ch in value)


def is_email(value: str) -> bool:
    """True for something shaped like an e-mail address."""
    return bool(EMAIL.fullmatch(value)) and not has_control_characters(value)


def _blank(raw: object) -> bool:
    return raw is None or (isinstance(raw, str) and not raw.strip())


def integer(raw: object, label: str, minimum: int = -BIGINT_MAX, maximum: int = BIGINT_MAX,
            field: str | None = None) -> int | None:
    """An integer typed in ASCII digits within [minimum, maximum]; blank gives None."""
    if _blank(raw):
        return None
    text = str(raw).strip()
    if not _ASCII_INTEGER.fullmatch(text):
        raise BadInput(f"The {label} must be a whole number.", field=field)
    number = int(text)
    if not minimum <= number <= maximum:
        raise BadInput(f"The {label} must be between {minimum} and {maximum}.", field=field)
    return number


def row_id(raw: object, label: str, field: str | None = None) -> int | None:
    """A database row id (1 .. bigint max); blank gives None, anything else unreadable is 422."""
    if _blank(raw):
        return None
    try:
        return integer(raw, label, 1, BIGINT_MAX, field)
    except BadInput:
        raise BadInput(f"The {label} is not valid. Reload the page and choose again.", field=field) from None


def required_row_id(raw: object, label: str, field: str | None = None) -> int:
    """A row id that must be there."""
    value = row_id(raw, label, field)
    if value is None:
        raise BadInput(f"Choose the {label}.", field=field)
    return value


def text(raw: object, label: str, maximum: int, required: bool = False, multiline: bool = False,
         field: str | None = None) -> str | None:
    """Trimmed text of at most `maximum` characters without control characters; blank gives None."""
    value = ("" if raw is None else str(raw)).strip()
    field = field or label
    if not value:
        if required:
            raise BadInput(f"Enter {label}.", field=field)
        return None
    if len(value) > maximum:
        raise BadInput(f"The {label} is too long (at most {maximum} characters).", field=field)
    if has_control_characters(value, multiline):
        raise BadInput(f"The {label} contains characters that are not allowed.", field=field)
    return value


def search_term(raw: object, maximum: int) -> str:
    """A search box's text: cut to `maximum`, control characters (NUL) dropped, spaces folded."""
    value = ("" if raw is None else str(raw))[:maximum]
    return " ".join("".join(ch for ch in value if not has_control_characters(ch)).split())


def day(raw: object, label: str = "date", field: str | None = None) -> date | None:
    """A date typed as YYYY-MM-DD between 2000 and 2100; blank gives None."""
    if _blank(raw):
        return None
    value = str(raw).strip()
    parsed = None
    if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):  # not ISO week dates like 2026-W48-2
        try:
            parsed = date.fromisoformat(value)
        except ValueError:
            parsed = None
    if parsed is None or not MIN_YEAR <= parsed.year <= MAX_YEAR:
        raise BadInput(f"“{value[:20]}” is not a date. Use the date picker or YYYY-MM-DD.",
                       field=field or label)
    return parsed


def clock_time(raw: object, label: str = "time", field: str | None = None) -> time | None:
    """A wall-clock time typed as HH:MM (or HH:MM:SS), with no date or offset; blank gives None."""
    if _blank(raw):
        return None
    value = str(raw).strip()
    if not re.fullmatch(r"[0-9]{2}:[0-9]{2}(:[0-9]{2})?", value):
        raise BadInput(f"Enter the {label} as HH:MM, for example 08:30.", field=field or label)
    try:
        return time.fromisoformat(value)
    except ValueError:
        raise BadInput(f"“{value}” is not a time of day.", field=field or label) from None


def choice(raw: object, label: str, allowed: tuple[str, ...] | frozenset[str] | dict,
           field: str | None = None, required: bool = True) -> str | None:
    """One of the allowed values."""
    value = ("" if raw is None else str(raw)).strip()
    if not value and not required:
        return None
    if value not in allowed:
        raise BadInput(f"Choose one of the listed {label} options.", field=field or label)
    return value


def flag(raw: object) -> bool:
    """A checkbox or hidden 0/1 value."""
    return str(raw or "").strip().lower() in ("1", "on", "true", "yes")
