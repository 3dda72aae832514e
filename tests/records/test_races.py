"""Real threads on real connections: one key signs once; two saves on one version, one wins."""
from __future__ import annotations

from collections import Counter

import pytest

from portal.idempotency import new_key
from portal.records import services
from tests.helpers import admin_connection, race

from .helpers import doctor, started

pytestmark = pytest.mark.pgbouncer  # run again through PgBouncer by make test

THREADS = 16


@pytest.fixture
def racing_app(make_app):
    return make_app(DB_POOL_SIZE=20, DB_MAX_OVERFLOW=0, DB_POOL_TIMEOUT_S=10)


def test_sixteen_threads_signing_with_one_key_sign_once(racing_app, staff, visit, services_list, database_url):
    consultation_id = started(racing_app, staff, visit)
    actor = doctor(staff)
    with racing_app.app_context():
        services.add_service(consultation_id, services_list[0], 2, actor)
        services.save_note(consultation_id, 1, {"subjective": "Cough", "objective": None, "assessment": "URTI",
                                                "plan": "Fluids"}, actor)
    key = new_key()
    outcomes = race(racing_app, [lambda: services.sign(consultation_id, key, actor) for _ in range(THREADS)])
    errors = [o for o in outcomes if isinstance(o, Exception)]
    assert errors == []
    assert len({(o["signed_at"], o["content_sha256"]) for o in outcomes}) == 1  # every tap got the same answer
    with admin_connection(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM audit_event WHERE action = 'records.consultation.sign'"
                            ).fetchone()[0] == 1
        assert conn.execute("SELECT status FROM appointment WHERE id = %s", (visit,)).fetchone()[0] == "completed"
        assert conn.execute("SELECT count(*) FROM appointment_event WHERE to_status = 'completed'").fetchone()[0] == 1
        assert conn.execute("SELECT status FROM consultation").fetchone()[0] == "signed"


def test_sixteen_threads_signing_with_their_own_keys_sign_once(racing_app, staff, visit, database_url):
    consultation_id = started(racing_app, staff, visit)
    actor = doctor(staff)
    with racing_app.app_context():
        services.save_note(consultation_id, 1, {"subjective": None, "objective": None, "assessment": None,
                                                "plan": "Fluids"}, actor)
    outcomes = race(racing_app, [lambda: services.sign(consultation_id, new_key(), actor) for _ in range(THREADS)])
    kinds = Counter("signed" if isinstance(o, dict) else type(o).__name__ for o in outcomes)
    assert kinds == {"signed": 1, "Conflict": THREADS - 1}, kinds
    with admin_connection(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM audit_event WHERE action = 'records.consultation.sign'"
                            ).fetchone()[0] == 1


def test_two_devices_saving_one_version_one_wins_the_other_gets_409(racing_app, staff, visit, database_url):
    consultation_id = started(racing_app, staff, visit)
    actor = doctor(staff)
    for round_number in range(10):
        with admin_connection(database_url) as conn:
            version = conn.execute("SELECT version FROM consultation").fetchone()[0]
        texts = [f"tablet {round_number}", f"desktop {round_number}"]
        outcomes = race(racing_app, [
            (lambda t=t, v=version: services.save_note(consultation_id, v, {"subjective": t, "objective": None,
                                                                         "assessment": None, "plan": None}, actor))
            for t in texts])
        winners = [i for i, o in enumerate(outcomes) if isinstance(o, tuple)]
        losers = [o for o in outcomes if isinstance(o, services.StaleNote)]
        assert len(winners) == 1 and len(losers) == 1, outcomes
        assert losers[0].status == 409
        assert losers[0].yours["subjective"] == texts[1 - winners[0]]
        assert losers[0].theirs["subjective"] == texts[winners[0]]
        with admin_connection(database_url) as conn:
            stored, now_version = conn.execute("SELECT subjective, version FROM consultation").fetchone()
        assert stored == texts[winners[0]] and now_version == version + 1
