"""Odd numbers and bytes in every field, query string and path answer with a 4xx, never a 5xx.

Every route is requested as each role over the demo clinic with real ids in its path. The
field names are every name the templates submit and every request value the views read; each
gets integers beyond 64 bits, unicode digits, NUL bytes, times with offsets, huge text, and the
rest, all at once and then in random mixes (a fixed seed, so a failure repeats).
"""
from __future__ import annotations

import glob
import os
import random
import re

from flask import url_for
from sqlalchemy import select

from portal import ROOT, clinic_time
from portal.extensions import db
from portal.models import Appointment, Doctor, Patient, Slot, StaffUser
from portal.seed import DEMO_PASSWORD, seed_demo
from tests.helpers import csrf_from, login

VALUES = ["9223372036854775808", "-9223372036854775809", "9" * 40, "①", "²", "١٢", "a\x00b", "\x00",
          "08:00+03:00", "2026-13-45", "1e9", "-0", "0", "-1", "NaN", "A" * 20_000, "", " ",
          "<script>alert(1)</script>", "' OR 1=1 --", "2026-12-02T08:00:00+03:00", "\ud800".encode(
              "utf-8", "surrogatepass").decode("utf-8", "replace")]
USERS = ("admin", "reception", "nurse", "dr.mwangi")
MIXES_PER_ROUTE = 6


def field_names() -> list[str]:
    """Every form field the templates send and every request value the views read."""
    names: set[str] = set()
    for path in glob.glob(os.path.join(ROOT, "templates", "**", "*.html"), recursive=True):
        with open(path, encoding="utf-8") as handle:
            names.update(re.findall(r'\bname="([A-Za-z_][\w-]*)"', handle.read()))
    for path in glob.glob(os.path.join(ROOT, "portal", "**", "*.py"), recursive=True):
        with open(path, encoding="utf-8") as handle:
            names.update(re.findall(r'(?:args|form|values)\.get(?:list)?\(\s*"([\w-]+)"', handle.read()))
    return sorted(names - {"csrf_token"})


def demo_ids(app) -> dict:
    with app.app_context():
        seed_demo()
        mwangi = db.session.scalar(select(Doctor.id).where(Doctor.licence_number == "KMPDC-A1001"))
        appointment = db.session.scalars(select(Appointment).where(Appointment.doctor_id == mwangi)
                                         .order_by(Appointment.starts_at.desc())).first()
        slot = db.session.scalar(select(Slot.id).where(Slot.doctor_id == mwangi, Slot.status == "open",
                                                       Slot.starts_at > clinic_time.now()).order_by(Slot.starts_at))
        # Staff forms act on a member nobody signs in as: a reset, deactivation or ended session
        # must not sign the walkers out.
        target = StaffUser(username="walk.target", full_name="Walk Target", role="nurse", password_hash="x")
        db.session.add(target)
        db.session.commit()
        return {"patient_id": appointment.patient_id, "appointment_id": appointment.id, "doctor_id": mwangi,
                "slot_id": slot, "field": "phone", "time_off_id": 1, "user_id": target.id, "report": "attendance",
                "patients": db.session.scalar(select(Patient.id))}


def routes(app, ids: dict) -> list[tuple[str, str]]:
    found = []
    with app.test_request_context():
        for rule in app.url_map.iter_rules():
            if rule.endpoint == "static":
                continue
            url = url_for(rule.endpoint, **{name: ids.get(name, 1) for name in rule.arguments})
            found.extend((method, url) for method in sorted(rule.methods - {"HEAD", "OPTIONS"}))
    return found


def test_no_field_query_or_path_value_reaches_a_5xx(app):
    ids = demo_ids(app)
    names = field_names()
    assert {"patient_id", "version", "starts", "slot_id", "q", "date", "after"} <= set(names)
    plan = routes(app, ids)
    chance = random.Random(20261202)
    failures = []
    for username in USERS:
        client = app.test_client()
        assert login(client, username, DEMO_PASSWORD).status_code == 302
        token = csrf_from(client.get("/patients/").get_data(as_text=True))
        for method, url in plan:
            if url in ("/logout", "/account/sign-out-everywhere"):
                continue  # signing out would end the walk
            batches = [{name: value for name in names} for value in VALUES]
            batches += [{name: chance.choice(VALUES) for name in chance.sample(names, 6)}
                        for _ in range(MIXES_PER_ROUTE)]
            for batch in batches:
                if method == "GET":
                    response = client.get(url, query_string=batch)
                else:
                    response = client.open(url, method=method, data={**batch, "csrf_token": token},
                                           headers={"HX-Request": "true"} if chance.random() < 0.5 else {})
                if response.status_code >= 500:
                    failures.append(f"{username} {method} {url} {sorted(batch.items())[:3]}... "
                                    f"-> {response.status_code}")
                    break
    for url in ("/schedule/slots/9223372036854775808/book", "/patients/99999999999999999999",
                "/schedule/appointments/9223372036854775807", "/patients/%E2%91%A0"):
        client = app.test_client()
        login(client, "reception", DEMO_PASSWORD)
        status = client.get(url).status_code
        if status >= 500:
            failures.append(f"GET {url} -> {status}")
    assert failures == [], "\n".join(failures[:40])
