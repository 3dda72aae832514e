"""Phone numbers the way people type them in Kenya, stored as E.164."""
from __future__ import annotations

import re

KENYA = "254"
# Characters people put between digits: spaces, dashes, dots, brackets.
_SEPARATORS = re.compile(r"[\s\-.()/]+")
_TYPED = re.compile(r"^\+?[0-9]+$")


class PhoneError(ValueError):
    """A phone number that cannot be understood."""


def _kenyan(national: str) -> str:
    """+254 and a nine-digit national number (07xx/01xx mobiles, 02x-06x landlines)."""
    if len(national) != 9 or national[0] not in "1234567":
        raise PhoneError("Enter a Kenyan number like 0712 345 678, or an international one with +.")
    return f"+{KENYA}{national}"


def normalise_phone(raw: str) -> str:
    """Return the E.164 form of a typed phone number, or raise PhoneError with a message."""
    text = _SEPARATORS.sub("", (raw or "").strip())
    if not text:
        raise PhoneError("Enter a phone number.")
    if len(text) > 20 or not _TYPED.match(text):
        raise PhoneError("A phone number has only digits, spaces, dashes and a leading +.")
    international = text.startswith("+") or text.startswith("00")
    digits = text.lstrip("+")
    if text.startswith("00"):
        digits = digits[2:]
    if digits.startswith(KENYA) and len(digits) in (12, 13):
        national = digits[3:]
        return _kenyan(national[1:] if national.startswith("0") else national)
    if international:
        if not 8 <= len(digits) <= 15 or digits[0] == "0":
            raise PhoneError("An international number has a country code and 8 to 15 digits.")
        return f"+{digits}"
    if digits.startswith("0") and len(digits) == 10:
        return _kenyan(digits[1:])
    return _kenyan(digits)


def phone_ending(phone: str | None, digits: int = 4) -> str:
    """The last digits of a phone, enough to tell two patients apart."""
    return f"…{phone[-digits:]}" if phone else ""


def typed_digits(raw: str) -> str | None:
    """The digits of a search term that looks like (part of) a phone, else None."""
    text = _SEPARATORS.sub("", (raw or "").strip())
    return text.lstrip("+") if text and _TYPED.match(text) else None
