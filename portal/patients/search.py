"""One search box: name words, phone (any format or its ending), file number, date of birth.

Every path is an indexed lookup (see migration 0003): a GIN index on the accent-free name
vector for word prefixes, btree indexes on the phone (from its start, and reversed for its
ending), the unique file number, and the date of birth. Nothing the user types becomes a
LIKE wildcard or tsquery operator: name words are reduced to letters and digits, phone
patterns to digits.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date

from sqlalchemy import ColumnElement, and_, func, select

from ..extensions import db
from ..models import Patient
from ..web import show_date
from .ages import age_label
from .phones import KENYA, PhoneError, normalise_phone, phone_ending, typed_digits

MAX_RESULTS = 50
MAX_TERM = 200
MAX_WORDS = 6
MIN_SUFFIX_DIGITS = 3
MIN_PREFIX_DIGITS = 4  # "0712": anything shorter matches most of the clinic
MIN_PREFIX_LETTERS = 3  # a lone word shorter than this must match a whole name word
SORT_BY_NAME = "kliniki_sort_by_name"

_ACCENTS = re.compile("[\u0300-\u036f]")
_APOSTROPHES = re.compile("['’ʼ`]")
_WORD_SEPARATORS = re.compile(r"[\s\-.,;/]+")
_FOLD_TABLE = str.maketrans("øđłħıßæœ", "odlhisao")
_FILE_NUMBER = re.compile(r"^(?:kl)?[\s\-]*(\d{1,9})$", re.IGNORECASE)
_ISO_DATE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
_DMY_DATE = re.compile(r"^(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4})$")


def fold(text: str) -> str:
    """Lower-case and strip accents, as kliniki_fold() does in the database."""
    return _ACCENTS.sub("", unicodedata.normalize("NFD", text.lower())).translate(_FOLD_TABLE)


def _name_char(ch: str) -> bool:
    return unicodedata.category(ch)[0] in "LMN"


def name_words(text: str) -> list[str] | None:
    """The words of a name as the search vector holds them (accent-free, apostrophes dropped).

    None when a word holds a character no stored name can hold (%, _, emoji...): such a term
    matches nothing, literally, instead of acting as a wildcard or being silently dropped.
    """
    words = [w for w in _WORD_SEPARATORS.split(_APOSTROPHES.sub("", fold(text))) if w]
    if not all(_name_char(ch) for word in words for ch in word):
        return None
    return words[:MAX_WORDS]


def parse_date(text: str) -> date | None:
    """A date typed as 1990-05-17 or 17/05/1990 (also 17-05-1990, 17.05.1990), else None."""
    text = text.strip()
    if match := _ISO_DATE.match(text):
        year, month, day = (int(part) for part in match.groups())
    elif match := _DMY_DATE.match(text):
        day, month, year = (int(part) for part in match.groups())
    else:
        return None
    try:
        return date(year, month, day)
    except ValueError:
        return None


def file_number_for(n: int) -> str:
    """The file number of sequence value n (kliniki_file_number() in the database)."""
    return f"KL-{n:06d}"


def _prefix_query(words: list[str]) -> str:
    if len(words) == 1 and len(words[0]) < MIN_PREFIX_LETTERS:
        return _exact_query(words)  # "ma" alone would read a tenth of the clinic
    return " & ".join(f"'{word}':*" for word in words)


def _exact_query(words: list[str]) -> str:
    return " & ".join(f"'{word}'" for word in words)


def _ordered(stmt):
    return stmt.order_by(Patient.last_name, Patient.first_name, Patient.id)


def _in_index_order(stmt, *key):
    """Read the first rows in the index's own order (the planner cannot be tempted to walk the
    name index and filter); search_patients sorts them by name afterwards."""
    return stmt.order_by(*key).execution_options(**{SORT_BY_NAME: True})


def _phone_branches(digits: str, typed: str) -> list:
    """Statements for a phone typed whole, from its start, or by its last digits."""
    branches = []
    try:
        branches.append(select(Patient).where(Patient.phone == normalise_phone(typed)))
    except PhoneError:
        pass
    prefix = None
    if typed.lstrip().startswith("+"):
        prefix = "+" + digits
    elif digits.startswith(KENYA):
        prefix = "+" + digits
    elif digits.startswith("0") and len(digits) >= MIN_PREFIX_DIGITS:
        prefix = f"+{KENYA}{digits[1:]}"
    if prefix and len(prefix) >= 1 + MIN_PREFIX_DIGITS + 2:
        phone = Patient.phone.collate("C")
        branches.append(_in_index_order(select(Patient).where(phone.like(prefix + "%")), phone))
    if len(digits) >= MIN_SUFFIX_DIGITS:
        reversed_digits = digits[::-1]
        reversed_phone = func.reverse(Patient.phone).collate("C")
        branches.append(_in_index_order(select(Patient).where(
            reversed_phone.like(reversed_digits + "%")), reversed_phone))
    return branches


def search_statements(term: str) -> list:
    """The indexed statements a term runs, best class first (used by tests to EXPLAIN them)."""
    term = (term or "").strip()[:MAX_TERM]
    if not term:
        return []
    branches = []
    if match := _FILE_NUMBER.match(term):
        branches.append(select(Patient).where(Patient.file_number == file_number_for(int(match.group(1)))))
        if not match.group(0).strip()[0].isdigit():
            return branches
    born = parse_date(term)
    if born:
        branches.append(_ordered(select(Patient).where(Patient.date_of_birth == born)))
        return branches
    digits = typed_digits(term)
    if digits:
        return branches + _phone_branches(digits, term)
    # Names, optionally with a date of birth among the words ("kamau 17/05/1990").
    tokens = term.split()
    dates = [d for d in (parse_date(token) for token in tokens) if d]
    words = name_words(" ".join(t for t in tokens if not parse_date(t)))
    words = [w for w in words if not w.isdigit()] if words else []
    if not words or (len(words) == 1 and len(words[0]) < 2 and not dates):
        return branches
    condition: ColumnElement[bool] = Patient.search_vector.op("@@")(func.to_tsquery("simple", _prefix_query(words)))
    if dates:
        condition = and_(condition, Patient.date_of_birth == dates[0])
    exact = Patient.search_vector.op("@@")(func.to_tsquery("simple", _exact_query(words)))
    # Rank narrow rows (id and sort keys) first, then load the 50 whole rows by primary key:
    # a common prefix matches thousands, and sorting those wide rows costs more than the join.
    ranked = (select(Patient.id, exact.label("exact"), Patient.last_name, Patient.first_name)
              .where(condition)
              .order_by(exact.desc(), Patient.last_name, Patient.first_name, Patient.id)
              .limit(MAX_RESULTS).subquery("ranked"))
    branches.append(select(Patient).join(ranked, ranked.c.id == Patient.id).order_by(
        ranked.c.exact.desc(), ranked.c.last_name, ranked.c.first_name, ranked.c.id))
    return branches


def search_patients(term: str, limit: int = MAX_RESULTS) -> list[Patient]:
    """Patients matching the term, best first (exact file number, then phone), at most 50."""
    try:
        limit = max(1, min(int(limit), MAX_RESULTS))
    except (TypeError, ValueError):
        limit = MAX_RESULTS
    found: dict[int, Patient] = {}
    for stmt in search_statements(term):
        if len(found) >= limit:
            break
        rows = list(db.session.scalars(stmt.limit(limit)))
        if stmt.get_execution_options().get(SORT_BY_NAME):
            rows.sort(key=lambda p: (p.last_name, p.first_name, p.id))
        for patient in rows:
            if len(found) < limit:
                found.setdefault(patient.id, patient)
    return list(found.values())


@dataclass(slots=True)
class SearchHit:
    """What a result line shows: enough to tell two John Kamaus apart, no more."""

    id: int
    name: str
    file_number: str
    age: str
    sex: str
    born: str
    phone_ending: str
    pending: bool


def search_hits(patients: list[Patient], today: date) -> list[SearchHit]:
    """Result lines for the search box (plain values: quick to render as you type)."""
    return [SearchHit(p.id, p.full_name, p.file_number, age_label(p.date_of_birth, today), p.sex,
                      show_date(p.date_of_birth), phone_ending(p.phone), p.approved_at is None)
            for p in patients]
