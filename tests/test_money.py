"""Money: typed amounts to integer cents and back, with clear refusals and a round-trip property."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portal.domain import BadInput
from portal.money import MAX_CENTS, format_cents, input_value, parse_cents


@pytest.mark.parametrize("typed, cents", [
    ("1,500", 150000), ("1500.50", 150050), ("1 500", 150000), ("1500.5", 150050),
    ("Ksh 1,500.00", 150000), ("KES 20", 2000), ("  0.05 ", 5), ("0", 0),
    ("1,234,567.89", 123456789), ("999999999999.99", MAX_CENTS), ("1\u00a0500", 150000),
])
def test_typed_amounts_become_integer_cents(typed, cents):
    assert parse_cents(typed) == cents
    assert isinstance(parse_cents(typed), int)


@pytest.mark.parametrize("typed, says", [
    ("junk", "not an amount"), ("-5", "negative"), ("-0", "negative"), ("1e9", "not an amount"),
    ("0.001", "two decimals"), ("12,34,5", "not an amount"), ("1\x00", "not allowed"),
    ("1234567890123", "too large"), ("１２", "not an amount"), ("1,500 000", "not an amount"),
    (".5", "not an amount"), ("1500.", "not an amount"), ("", "Enter"), ("   ", "Enter"),
    ("nan", "not an amount"), ("inf", "not an amount"), ("0x10", "not an amount"),
    ("1" * 10_000, "too long"), ("1,5", "not an amount"), ("+5", "not an amount"),
])
def test_junk_is_refused_with_a_clear_message(typed, says):
    with pytest.raises(BadInput) as refused:
        parse_cents(typed, "amount", field="amount")
    assert says in refused.value.message
    assert refused.value.field == "amount"


def test_babel_formats_kenyan_shillings():
    assert format_cents(150000) == "Ksh 1,500.00"
    assert format_cents(5) == "Ksh 0.05"
    assert format_cents(None) == ""


@given(st.integers(min_value=0, max_value=MAX_CENTS))
def test_parse_reads_back_what_format_and_input_value_write(cents):
    assert parse_cents(format_cents(cents)) == cents
    assert parse_cents(input_value(cents)) == cents


def test_the_money_filter_is_registered(app):
    assert app.jinja_env.filters["money"](123456) == "Ksh 1,234.56"
