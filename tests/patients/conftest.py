"""Patient fixtures: `register` (through the service, as reception would) is in tests/conftest.py."""
from __future__ import annotations

from tests.factories import patient_form

# Older test modules import this from here; new code imports it from tests.factories.
__all__ = ["patient_form"]
