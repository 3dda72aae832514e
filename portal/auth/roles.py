"""Roles and the groups of them that views and services ask for, defined once."""
from __future__ import annotations

from ..models.staff import ROLES

ADMIN, RECEPTION, DOCTOR, NURSE = "admin", "reception", "doctor", "nurse"

ALL_STAFF = frozenset(ROLES)
# The front desk: books, registers, bills and takes money.
DESK = frozenset({ADMIN, RECEPTION})
# Clinical staff: read and record vitals, allergies and (doctors) notes.
CLINICAL = frozenset({DOCTOR, NURSE})
DOCTORS = frozenset({DOCTOR})
ADMINS = frozenset({ADMIN})

PATIENT_READERS = ALL_STAFF
PATIENT_WRITERS = DESK
