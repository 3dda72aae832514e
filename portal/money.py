"""Money as integer cents: reading what a person typed, and showing it the Kenyan way (Babel, en_KE)."""
from __future__ import annotations

import re
from decimal import Decimal
from functools import lru_cache

from babel import Locale
from babel.numbers import parse_pattern

from .domain import BadInput

CURRENCY = "KES"
LOCALE = "en_KE"
MAX_DIGITS = 12  # whole shillings: up to 999,999,999,999
MAX_CENTS = 10**MAX_DIGITS * 100 - 1
_PATTERN = parse_pattern("¤ #,##0.00")  # parsed once: Babel would parse it on every call
_PREFIX = re.compile(r"^(?:ksh|kes|kshs)\.?\s*", re.IGNORECASE)
# Whole part: plain digits, or thousands grouped by commas or by spaces (one kind, groups of three).
_AMOUNT = re.compile(r"(?P<whole>[0-9]+|[0-9]{1,3}(?:,[0-9]{3})+|[0-9]{1,3}(?: [0-9]{3})+)"
                     r"(?:\.(?P<fraction>[0-9]{1,2}))?")


def parse_cents(raw: object, label: str = "amount", field: str | None = None,
                required: bool = True) -> int | None:
    """Integer cents from "1,500", "1 500", "1500.50" or "Ksh 1,500.00"; BadInput for anything else."""
    field = field or label
    value = "" if raw is None else str(raw)
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise BadInput(f"The {label} contains characters that are not allowed.", field=field)
    value = value.strip().replace("\u00a0", " ")
    if not value:
        if required:
            raise BadInput(f"Enter the {label}.", field=field)
        return None
    if len(value) > 40:
        raise BadInput(f"The {label} is too long to be an amount.", field=field)
    value = _PREFIX.sub("", value)
    if value.startswith("-"):
        raise BadInput(f"The {label} cannot be negative.", field=field)
    match = _AMOUNT.fullmatch(value) if value.isascii() else None
    if match is None:
        if re.fullmatch(r"[0-9., ]+", value) and re.search(r"\.[0-9]{3,}$", value):
            raise BadInput(f"The {label} can have at most two decimals (cents).", field=field)
        raise BadInput(f"“{value[:20]}” is not an amount. Type it like 1,500 or 1500.50.", field=field)
    whole = match["whole"].replace(",", "").replace(" ", "")
    if len(whole.lstrip("0")) > MAX_DIGITS:
        raise BadInput(f"The {label} is too large.", field=field)
    fraction = (match["fraction"] or "").ljust(2, "0")
    return int(whole) * 100 + int(fraction)


def format_cents(cents: int | None) -> str:
    """Cents shown as Babel formats Kenyan shillings: 150000 -> "Ksh 1,500.00"."""
    if cents is None:
        return ""
    return _formatted(int(cents))


@lru_cache(maxsize=4096)  # a page shows the same few amounts many times (prices, totals)
def _formatted(cents: int) -> str:
    return _PATTERN.apply(Decimal(cents).scaleb(-2), _LOCALE, currency=CURRENCY, currency_digits=True)


_LOCALE = Locale.parse(LOCALE)


def input_value(cents: int | None) -> str:
    """Cents as a form field's value ("1500.50"), which parse_cents reads back."""
    if cents is None:
        return ""
    return f"{cents // 100}.{cents % 100:02d}"
