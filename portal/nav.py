"""Navigation by role: only links the role may follow."""
from __future__ import annotations

from flask import url_for

from .auth.access import may

# (label, endpoint) in display order; each shows only to the roles the view allows.
NAV = [
    ("Dashboard", "dashboard.index"),
    ("My day", "schedule.my_day"),
    ("Schedule", "schedule.day"),
    ("Day list", "schedule.day_list"),
    ("Waiting room", "records.waiting_room"),
    ("Notes", "records.notes"),
    ("Patients", "patients.search_page"),
    ("Doctors", "schedule.doctor_list"),
    ("Bills", "payments.outstanding"),
    ("Cash-up", "payments.shift_list"),
    ("Staff", "admin.staff_list"),
]


def nav_for(user) -> list[tuple[str, str, str]]:
    """The (label, url, endpoint) links this user may use."""
    if not getattr(user, "is_authenticated", False):
        return []
    return [(label, url_for(endpoint), endpoint) for label, endpoint in NAV if may(endpoint, user)]
