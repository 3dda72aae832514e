"""Daily upkeep without cron: the slot window rolls forward, expired keys go, summaries are folded.

Slots are generated SLOT_WINDOW_WEEKS ahead when availability changes; without this, the window
would stop at the date of the last change, and weeks later reception would find nothing to book.
Each gunicorn worker runs `keep_up` in a background thread (gunicorn.conf.py): a first pass
UPKEEP_POLL_S after it starts, then one each time the clinic's date changes. Passes are
idempotent, so two workers doing one is harmless; doctors are regenerated one transaction each,
so a booking waits at most for one doctor's regeneration (tens of milliseconds), never the clinic's.
The money summaries' shards of the days before are folded into one row per key (payments/summaries.py).
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import date, timedelta

from flask import Flask
from sqlalchemy import select

from .. import clinic_time
from ..db import transaction
from ..extensions import db
from ..idempotency import purge_expired
from ..models.schedule import Doctor
from ..payments.summaries import fold_summary_shards
from ..schedule.availability import generate_slots

log = logging.getLogger(__name__)


@dataclass
class UpkeepReport:
    doctors: int = 0
    slots_created: int = 0
    slots_removed: int = 0
    keys_purged: int = 0
    summary_rows_folded: int = 0


def run_upkeep() -> UpkeepReport:
    """Regenerate each active doctor's slots to the end of the window, purge expired keys, fold summaries."""
    report = UpkeepReport()
    with transaction() as session:  # a clinic has dozens of doctors; each then gets a transaction of its own
        doctor_ids = list(session.scalars(select(Doctor.id).where(Doctor.is_active).order_by(Doctor.id)))
    for doctor_id in doctor_ids:
        generated = generate_slots(doctor_id)
        report.doctors += 1
        report.slots_created += generated.created
        report.slots_removed += generated.removed
    while True:
        with transaction() as session:
            purged = purge_expired(session)
        report.keys_purged += purged
        if purged == 0:
            break
    # An hour back: a posting whose transaction began before a quarter hour ended still counts in it.
    report.summary_rows_folded = fold_summary_shards(clinic_time.now() - timedelta(hours=1))
    return report


def keep_up(app: Flask, poll_s: float, stop: threading.Event) -> None:
    """Run upkeep once the worker has settled, then whenever the date changes, until `stop` is set."""
    done_for: date | None = None
    while not stop.wait(poll_s):
        with app.app_context():
            try:
                today = clinic_time.today()
                if today != done_for:
                    report = run_upkeep()
                    done_for = today
                    log.info("upkeep for %s: %d doctors, %d slots added, %d removed, %d expired keys deleted, "
                             "%d summary rows folded", today, report.doctors, report.slots_created,
                             report.slots_removed, report.keys_purged, report.summary_rows_folded)
            except Exception:  # a database outage must not end the thread: try again next poll
                log.exception("upkeep failed; trying again in %s s", poll_s)
            finally:
                db.session.remove()


def start_upkeep(app: Flask) -> threading.Event | None:
    """Start `keep_up` in a daemon thread unless UPKEEP_POLL_S is 0; returns the event that stops it."""
    poll_s = float(app.config["UPKEEP_POLL_S"])
    if poll_s <= 0:
        return None
    stop = threading.Event()
    threading.Thread(target=keep_up, args=(app, poll_s, stop), name="kliniki-upkeep", daemon=True).start()
    return stop
