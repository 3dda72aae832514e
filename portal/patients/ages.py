"""Ages as the clinic shows them."""
from __future__ import annotations

from datetime import date


def age_on(born: date, today: date) -> int:
    """Whole years between born and today."""
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def age_label(born: date, today: date) -> str:
    """Age for lists: years, or months for babies."""
    years = age_on(born, today)
    if years >= 2:
        return f"{years} y"
    months = (today.year - born.year) * 12 + today.month - born.month - (today.day < born.day)
    return f"{max(months, 0)} mo"
