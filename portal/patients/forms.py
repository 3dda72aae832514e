"""Registration and edit form: parse what was typed, keep it, and say what is wrong."""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date
from typing import Mapping

from ..validation import has_control_characters, is_email
from .phones import PhoneError, normalise_phone
from .search import parse_date

SEXES = (("female", "Female"), ("male", "Male"), ("intersex", "Intersex"), ("unknown", "Not stated"))
RELATIONS_MAX = 40
OLDEST_AGE_YEARS = 130
# What a form may send at most per field; anything longer is refused, never truncated silently.
TYPED_MAX = 20_000

NAME_FIELDS = {"first_name": 80, "middle_name": 80, "last_name": 80, "next_of_kin_name": 120}
TEXT_FIELDS = {"email": 254, "national_id": 32, "address": 500, "next_of_kin_relation": RELATIONS_MAX,
               "allergies": 2000, "insurance_provider": 80, "insurance_member_number": 40}
MULTILINE = {"address", "allergies"}
REQUIRED = {"first_name", "last_name", "date_of_birth", "sex", "phone"}
PHONE_FIELDS = ("phone", "next_of_kin_phone")
BOOL_FIELDS = ("consent_data_processing", "consent_sms")
FIELDS = (*NAME_FIELDS, "date_of_birth", "sex", *PHONE_FIELDS, *TEXT_FIELDS, *BOOL_FIELDS)
LABELS = {
    "first_name": "First name", "middle_name": "Middle name", "last_name": "Last name",
    "date_of_birth": "Date of birth", "sex": "Sex", "phone": "Phone", "email": "Email",
    "national_id": "National ID or passport", "address": "Address",
    "next_of_kin_name": "Next of kin", "next_of_kin_phone": "Next of kin's phone",
    "next_of_kin_relation": "Relation", "allergies": "Allergies",
    "insurance_provider": "Insurance provider", "insurance_member_number": "Member number",
    "consent_data_processing": "Consents to data processing", "consent_sms": "Accepts SMS reminders",
}

_NAME_PUNCTUATION = set(" '’ʼ-.")
_DOCUMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 /\-]*$")


@dataclass
class PatientInput:
    """What was typed (to show again), the clean values (to save) and the errors."""

    typed: dict[str, str] = field(default_factory=dict)
    clean: dict[str, object] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors


def _check_name(value: str, maximum: int) -> str | None:
    if len(value) > maximum:
        return f"At most {maximum} characters (this has {len(value)})."
    for ch in value:
        if ch not in _NAME_PUNCTUATION and unicodedata.category(ch)[0] not in "LM":
            return "Use letters, spaces, apostrophes, hyphens and dots only."
    if not any(unicodedata.category(ch)[0] == "L" for ch in value):
        return "A name needs at least one letter."
    return None


def _check_date_of_birth(value: str, today: date) -> tuple[date | None, str | None]:
    born = parse_date(value)
    if born is None:
        if re.match(r"^\d{4}-\d{1,2}-\d{1,2}$|^\d{1,2}[/.\-]\d{1,2}[/.\-]\d{4}$", value):
            return None, f"{value} is not a real date."
        return None, "Enter the date as 1990-05-17 or 17/05/1990."
    if born > today:
        return None, "The date of birth cannot be in the future."
    if today.year - born.year > OLDEST_AGE_YEARS:
        return None, f"That is more than {OLDEST_AGE_YEARS} years ago; check the year."
    return born, None


def check_field(name: str, raw: str, today: date) -> tuple[object, str | None]:
    """Validate one field's typed value: (clean value, error message or None)."""
    value = raw.strip()
    if len(raw) > TYPED_MAX:
        return None, "This is far too long."
    if name in BOOL_FIELDS:
        return value in ("on", "true", "1", "yes"), None
    if has_control_characters(value, name in MULTILINE):
        return None, "Remove the control characters (they cannot be stored)."
    if not value:
        return None, ("This is required." if name in REQUIRED else None)
    if name in NAME_FIELDS:
        value = " ".join(value.split())
        return value, _check_name(value, NAME_FIELDS[name])
    if name == "date_of_birth":
        return _check_date_of_birth(value, today)
    if name == "sex":
        return value, (None if value in dict(SEXES) else "Choose one of the listed options.")
    if name in PHONE_FIELDS:
        try:
            return normalise_phone(value), None
        except PhoneError as error:
            return None, str(error)
    maximum = TEXT_FIELDS[name]
    if len(value) > maximum:
        return None, f"At most {maximum} characters (this has {len(value)})."
    if name == "email":
        value = value.lower()
        return value, (None if is_email(value) else "Enter an email address like name@example.com.")
    if name == "national_id":
        value = " ".join(value.upper().split())
        return value, (None if _DOCUMENT.match(value) else "Use letters, digits, spaces, / and - only.")
    return value, None


def parse_patient_form(form: Mapping[str, str], today: date) -> PatientInput:
    """Check every field of the registration or edit form."""
    result = PatientInput()
    for name in FIELDS:
        raw = form.get(name, "") or ""
        raw = raw if isinstance(raw, str) else str(raw)
        result.typed[name] = raw
        value, error = check_field(name, raw, today)
        if error:
            result.errors[name] = error
        else:
            result.clean[name] = value
    return result
