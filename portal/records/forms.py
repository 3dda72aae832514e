"""Reading the records forms into typed, checked values (through portal.validation)."""
from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any, Mapping

from ..domain import BadInput
from ..validation import choice, flag, integer, text
from .services import ALLERGY_SEVERITIES, MAX_NOTE, NOTE_FIELDS, VITALS

_DECIMAL = re.compile(r"[0-9]{1,4}([.,][0-9]{1,2})?")
NOTE_LABELS = {"subjective": "presenting complaint", "objective": "examination", "assessment": "assessment",
               "plan": "plan"}


def decimal(raw: object, label: str, places: int, field: str) -> Decimal | None:
    """A decimal number typed in ASCII digits (comma or point), rounded to `places`; blank gives None."""
    value = ("" if raw is None else str(raw)).strip()
    if not value:
        return None
    if not _DECIMAL.fullmatch(value):
        raise BadInput(f"The {label} must be a number, for example 37.5.", field=field)
    try:
        number = Decimal(value.replace(",", "."))
    except InvalidOperation:
        raise BadInput(f"The {label} must be a number.", field=field) from None
    return number.quantize(Decimal(1).scaleb(-places)) if places else number


def vitals(form: Mapping[str, Any]) -> dict[str, Any]:
    """The measurements of the vitals form, typed (whole numbers or decimals), blank ones None."""
    values: dict[str, Any] = {}
    for name, spec in VITALS.items():
        raw = form.get(name)
        if spec.decimals:
            values[name] = decimal(raw, spec.label, spec.decimals, name)
        else:
            values[name] = integer(raw, spec.label, 0, 1000, field=name)
    return values


def note(form: Mapping[str, Any]) -> dict[str, str | None]:
    """The four SOAP texts (multi-line, bounded)."""
    return {name: text(form.get(name), NOTE_LABELS[name], MAX_NOTE, multiline=True, field=name)
            for name in NOTE_FIELDS}


def version(raw: object) -> int:
    value = integer(raw, "note version", 1, 2**31 - 1, field="version")
    if value is None:
        raise BadInput("This note has no version. Reload the page.", field="version")
    return value


def diagnosis(form: Mapping[str, Any]) -> tuple[str | None, str | None, bool]:
    """(ICD-10 code or None, free text or None, primary?)."""
    code = text(form.get("code"), "ICD-10 code", 16, field="code")
    if code is not None:
        code = code.upper()
        if not re.fullmatch(r"[A-Z][0-9]{2}(\.[0-9A-Z]{1,4})?", code):
            raise BadInput(f"“{code}” is not an ICD-10 code. Pick one from the list.", field="code")
    free_text = text(form.get("text"), "diagnosis", 300, field="text")
    return code, free_text, choice(form.get("rank") or "secondary", "rank", ("primary", "secondary")) == "primary"


PRESCRIPTION_FIELDS = {"strength": ("strength", 60), "dose": ("dose", 60), "route": ("route", 30),
                       "frequency": ("frequency", 60), "duration": ("duration", 60)}


def prescription(form: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
    """A structured prescription line and whether the allergy warning was acknowledged."""
    line: dict[str, Any] = {"drug": text(form.get("drug"), "drug", 120, required=True, field="drug")}
    for name, (label, maximum) in PRESCRIPTION_FIELDS.items():
        line[name] = text(form.get(name), label, maximum, field=name)
    line["quantity"] = integer(form.get("quantity"), "quantity", 1, 100_000, field="quantity")
    line["instructions"] = text(form.get("instructions"), "instructions", 1000, multiline=True,
                                field="instructions")
    return line, flag(form.get("confirm_allergy"))


def service(form: Mapping[str, Any]) -> tuple[int, int]:
    from ..validation import required_row_id
    service_id = required_row_id(form.get("service_id"), "service", field="service_id")
    quantity = integer(form.get("quantity") or "1", "quantity", 1, 1000, field="quantity")
    return service_id, quantity or 1


def addendum(form: Mapping[str, Any]) -> tuple[str, str]:
    reason = text(form.get("reason"), "reason", 300, required=True, field="reason")
    body = text(form.get("text"), "addendum", MAX_NOTE, required=True, multiline=True, field="text")
    assert reason is not None and body is not None
    return reason, body


def allergy(form: Mapping[str, Any], editing: bool = False) -> dict[str, Any]:
    values: dict[str, Any] = {
        "substance": text(form.get("substance"), "substance", 120, required=True, field="substance"),
        "reaction": text(form.get("reaction"), "reaction", 200, field="reaction"),
        "severity": choice(form.get("severity") or "unknown", "severity", ALLERGY_SEVERITIES, field="severity"),
    }
    if editing:
        values["is_active"] = not flag(form.get("retire"))
    return values
