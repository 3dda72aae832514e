"""Schedule fixtures: apps whose pools let threads race. Doctors, patients and slots are in tests/conftest.py."""
from __future__ import annotations

import pytest

from tests.factories import SLOTS_PER_DOCTOR, make_slots
from tests.helpers import INVARIANTS, assert_invariants, count

# Older test modules import these from here; new code imports them from tests.factories / tests.helpers.
__all__ = ["INVARIANTS", "SLOTS_PER_DOCTOR", "assert_invariants", "count", "make_slots"]


@pytest.fixture
def racing_app(make_app):
    """An app whose pool gives each of 20 threads its own real connection."""
    return make_app(DB_POOL_SIZE=24, DB_MAX_OVERFLOW=0, DB_POOL_TIMEOUT_S=10)
