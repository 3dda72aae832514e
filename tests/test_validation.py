"""portal.validation, without a database: every odd request value is a clear BadInput or the right value."""
from __future__ import annotations

from datetime import date, time

import pytest

from portal import validation as v
from portal.domain import BadInput, DomainError

BIGINT_MAX = 2**63 - 1
HUGE = "9" * 100_000
NOT_VALID = "The slot is not valid. Reload the page and choose again."


def refused(parse, *args, **kwargs) -> BadInput:
    """The BadInput a parser raises (the test fails if it returns instead)."""
    with pytest.raises(BadInput) as raised:
        parse(*args, **kwargs)
    error = raised.value
    assert isinstance(error, DomainError) and error.status == 422
    assert error.message and len(error.message) < 200, error.message  # a sentence, never the input echoed
    return error


# ---- row_id --------------------------------------------------------------------------------

@pytest.mark.parametrize("raw, expected", [
    ("1", 1), (" 42 ", 42), ("+7", 7), (7, 7), (str(BIGINT_MAX), BIGINT_MAX),
    ("", None), ("   ", None), (None, None),
])
def test_row_id_reads_ascii_digits_within_bigint(raw, expected):
    assert v.row_id(raw, "slot") == expected


@pytest.mark.parametrize("raw", [
    "0", "-1", str(BIGINT_MAX + 1), "99999999999999999999", str(2**64), HUGE,  # out of range, beyond 64 bits
    "①", "²", "١٢", "５", "𝟙",  # unicode digits that int() would (or would not) read
    "1\x00", "\x001", "1e3", "1.0", "0x10", "1_000", "1 2", "abc", True,
])
def test_row_id_refuses_everything_else_with_one_clear_message(raw):
    assert refused(v.row_id, raw, "slot", field="slot_id").message == NOT_VALID


def test_row_id_keeps_the_field_for_the_form():
    assert refused(v.row_id, "x", "slot", field="slot_id").field == "slot_id"


def test_required_row_id_asks_for_a_missing_value():
    assert refused(v.required_row_id, "", "patient").message == "Choose the patient."
    assert v.required_row_id("12", "patient") == 12


# ---- integer -------------------------------------------------------------------------------

@pytest.mark.parametrize("raw, expected", [("1", 1), ("16", 16), (" 3 ", 3), ("", None), (None, None)])
def test_integer_within_bounds(raw, expected):
    assert v.integer(raw, "length", 1, 16) == expected


@pytest.mark.parametrize("raw", ["0", "17", "-1", str(2**63), "-" + str(2**63), "99999999999999999999", HUGE])
def test_integer_out_of_range_says_the_bounds(raw):
    message = refused(v.integer, raw, "length", 1, 16).message
    assert message in ("The length must be between 1 and 16.", "The length must be a whole number.")


@pytest.mark.parametrize("raw", ["①", "²", "١٢", "５", "1.5", "1e2", "1\x00", "one", "--1", "+-1"])
def test_integer_refuses_what_is_not_ascii_digits(raw):
    assert refused(v.integer, raw, "length", 1, 16).message == "The length must be a whole number."


def test_integer_default_bounds_are_bigint():
    assert v.integer(str(-BIGINT_MAX), "amount") == -BIGINT_MAX
    assert refused(v.integer, str(BIGINT_MAX + 1), "amount").message.startswith("The amount must be between")


# ---- text ----------------------------------------------------------------------------------

def test_text_is_trimmed_and_blank_is_none():
    assert v.text("  Wanjiru  ", "name", 80) == "Wanjiru"
    assert v.text("", "name", 80) is None and v.text(None, "name", 80) is None and v.text("  ", "name", 80) is None


def test_text_in_any_script_is_kept():
    assert v.text("Zoë N'Dege 王小明 محمد", "name", 80) == "Zoë N'Dege 王小明 محمد"


def test_required_text_asks_for_it():
    error = refused(v.text, "   ", "reason", 500, required=True)
    assert (error.message, error.field) == ("Enter reason.", "reason")


def test_text_over_the_limit_says_the_limit():
    assert v.text("x" * 500, "reason", 500) == "x" * 500
    error = refused(v.text, "x" * 100_000, "reason", 500, field="cancel_reason")
    assert (error.message, error.field) == ("The reason is too long (at most 500 characters).", "cancel_reason")


@pytest.mark.parametrize("raw", ["nul\x00byte", "esc\x1b[31m", "del\x7f", "\ud800", "private\ue000", "n\x85el"])
def test_text_with_control_characters_is_refused(raw):
    assert refused(v.text, raw, "reason", 500).message == "The reason contains characters that are not allowed."


def test_line_breaks_only_in_multiline_text():
    assert v.text("line one\nline two\tend", "notes", 500, multiline=True) == "line one\nline two\tend"
    refused(v.text, "line one\nline two", "name", 80)
    refused(v.text, "line\x00two", "notes", 500, multiline=True)


# ---- search_term ---------------------------------------------------------------------------

def test_search_term_drops_control_characters_and_folds_spaces():
    assert v.search_term("  Wan\x00jiru \t\n  Nyambura ", 100) == "Wanjiru Nyambura"


def test_search_term_of_nothing_is_empty():
    assert v.search_term(None, 100) == "" and v.search_term("", 100) == "" and v.search_term("\x00\x00", 100) == ""


def test_search_term_is_cut_to_its_maximum():
    assert v.search_term("a" * 1_000_000, 100) == "a" * 100


# ---- day -----------------------------------------------------------------------------------

@pytest.mark.parametrize("raw, expected", [
    ("2026-11-24", date(2026, 11, 24)), (" 2026-11-24 ", date(2026, 11, 24)),
    ("2000-01-01", date(2000, 1, 1)), ("2100-12-31", date(2100, 12, 31)), ("", None), (None, None),
])
def test_day_reads_iso_dates_of_this_century(raw, expected):
    assert v.day(raw) == expected


@pytest.mark.parametrize("raw", [
    "2025-02-30", "2025-13-01", "1999-12-31", "2101-01-01", "9999-12-31", "0001-01-01",
    "2026-11-24T08:00", "2026-11-24 08:00", "20261124", "24/11/2026", "yesterday",
    "２０２６-１１-２４", "2026-11-24\x00", "\x002026-11-24", "x" * 100_000,
])
def test_day_refuses_with_the_format_to_use(raw):
    error = refused(v.day, raw, "date", field="starts_on")
    assert error.message.endswith("is not a date. Use the date picker or YYYY-MM-DD.")
    assert error.field == "starts_on"


def test_day_refuses_an_iso_week_date():
    refused(v.day, "2026-W48-2")


# ---- clock_time ----------------------------------------------------------------------------

@pytest.mark.parametrize("raw, expected", [
    ("08:30", time(8, 30)), ("08:30:15", time(8, 30, 15)), (" 23:59 ", time(23, 59)), ("00:00", time(0)),
    ("", None), (None, None),
])
def test_clock_time_reads_wall_clock_times(raw, expected):
    assert v.clock_time(raw, "start") == expected


@pytest.mark.parametrize("raw", [
    "08:00+03:00", "08:00Z", "08:00-05:00", "08:00:00+00:00",  # an offset makes it an instant, not a time
    "8:30", "0830", "08:30:15.5", "08.30", "08:30 am", "０８:３０", "08:30\x00", "x" * 100_000,
])
def test_clock_time_refuses_offsets_and_other_shapes(raw):
    error = refused(v.clock_time, raw, "start")
    assert (error.message, error.field) == ("Enter the start as HH:MM, for example 08:30.", "start")


@pytest.mark.parametrize("raw", ["24:00", "08:60", "23:59:60", "99:99"])
def test_clock_time_refuses_times_that_do_not_exist(raw):
    assert refused(v.clock_time, raw, "start").message == f"“{raw}” is not a time of day."


# ---- choice and flag -----------------------------------------------------------------------

def test_choice_is_one_of_the_allowed_values():
    assert v.choice(" male ", "sex", ("female", "male")) == "male"
    assert v.choice("", "sex", ("female", "male"), required=False) is None
    error = refused(v.choice, "other\x00", "sex", ("female", "male"))
    assert (error.message, error.field) == ("Choose one of the listed sex options.", "sex")
    refused(v.choice, "", "sex", ("female", "male"))


@pytest.mark.parametrize("raw, expected", [
    ("1", True), ("on", True), ("true", True), ("YES", True), (" on ", True),
    ("0", False), ("off", False), ("", False), (None, False), ("no", False), ("2", False),
])
def test_flag(raw, expected):
    assert v.flag(raw) is expected


# ---- has_control_characters and is_email ---------------------------------------------------

@pytest.mark.parametrize("raw, single_line, multiline", [
    ("plain text", False, False), ("Zoë 王", False, False),
    ("\x00", True, True), ("\x1b", True, True), ("\x7f", True, True), ("\x85", True, True),
    ("\ud800", True, True), ("\ue000", True, True),
    ("\n", True, False), ("\r\n", True, False), ("\t", True, False),
])
def test_has_control_characters(raw, single_line, multiline):
    assert v.has_control_characters(raw) is single_line
    assert v.has_control_characters(raw, multiline=True) is multiline


@pytest.mark.parametrize("raw, expected", [
    ("wanjiru@example.co.ke", True), ("a.b+c@d.io", True), ("ä@ö.de", True),
    ("", False), ("wanjiru", False), ("a@b", False), ("@b.co", False), ("a@", False),
    ("a b@c.de", False), ("a@@b.co", False), ("a@b.co d", False),
])
def test_is_email(raw, expected):
    assert v.is_email(raw) is expected


def test_is_email_refuses_a_trailing_newline():
    assert v.is_email("wanjiru@example.co.ke\n") is False
