"""Words people read for the codes the database stores: statuses and history events, in one place."""
from __future__ import annotations

STATUS_LABELS = {
    "pending_review": "pending doctor review", "booked": "booked", "confirmed": "confirmed",
    "checked_in": "checked in", "in_consultation": "in consultation", "completed": "completed",
    "no_show": "no show", "cancelled": "cancelled",
}

# appointment_event.action -> what the history says happened.
EVENT_LABELS = {
    "booked": "Booked",
    "status": "Status changed",
    "cancelled": "Cancelled",
    "rescheduled": "Rescheduled",
    "review:approve": "Doctor approved the request",
    "review:ask_info": "Doctor asked for more information",
    "review:decline": "Doctor declined the request",
    "review:answered": "Reception answered the doctor",
}


def status_label(status: str | None) -> str:
    """An appointment status as people say it ("checked in", "pending doctor review")."""
    if not status:
        return ""
    return STATUS_LABELS.get(status, status.replace("_", " "))


def event_label(action: str, to_status: str | None = None) -> str:
    """One history line's words: "Marked checked in", "Doctor asked for more information"."""
    if action == "status" and to_status:
        return f"Marked {status_label(to_status)}"
    if action == "booked" and to_status == "pending_review":
        return "Booked as a consultation request"
    return EVENT_LABELS.get(action, action.replace(":", " ").replace("_", " ").capitalize())
