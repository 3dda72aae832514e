"""A rule's refusal that escapes a view is shown with its own status and message, never as a 500."""
from __future__ import annotations

import pytest

from portal.domain import BadInput, Conflict, DomainError, Forbidden, NotFound
from portal.idempotency import IdempotencyError
from portal.patients.services import PatientNotFound, StaleEdit
from portal.schedule.services import ScheduleError, SlotTaken
from tests.helpers import add_route

REFUSALS = {
    "rule": (DomainError("Not on a Sunday."), 422),
    "input": (BadInput("The slot is not valid.", field="slot_id"), 422),
    "missing": (NotFound("No such bill."), 404),
    "role": (Forbidden("Only the doctor signs."), 403),
    "taken": (Conflict("Someone else changed it first."), 409),
    "slot": (SlotTaken(), 409),
    "schedule": (ScheduleError("That time has already passed.", 422), 422),
    "patient": (PatientNotFound(5), 404),
    "key": (IdempotencyError("This form's submission key is not valid."), 422),
}


@pytest.fixture(scope="module")
def refusing_app(request):
    """An app whose test route raises each refusal without catching it."""
    from portal import create_app
    from portal.extensions import db
    from tests.helpers import TEST_CONFIG
    app = create_app({**TEST_CONFIG, "SQLALCHEMY_DATABASE_URI": request.getfixturevalue("database_url")})

    def refuse(kind):
        raise REFUSALS[kind][0]
    add_route(app, "/_test/refuse/<kind>", refuse)
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.mark.parametrize("kind", list(REFUSALS))
def test_an_uncaught_refusal_is_a_page_with_its_status_and_message(refusing_app, kind):
    error, status = REFUSALS[kind]
    page = refusing_app.test_client().get(f"/_test/refuse/{kind}")
    assert page.status_code == status
    assert f'data-status="{status}"' in page.get_data(as_text=True)
    assert error.message.replace("'", "&#39;") in page.get_data(as_text=True)
    fragment = refusing_app.test_client().get(f"/_test/refuse/{kind}", headers={"HX-Request": "true"})
    assert fragment.status_code == status and fragment.headers["HX-Retarget"] == "#flash"
    assert 'class="alert alert-error"' in fragment.get_data(as_text=True)


def test_every_area_error_is_a_domain_error_with_a_status():
    assert all(isinstance(error, DomainError) and 400 <= error.status < 500 for error, _ in REFUSALS.values())
    assert StaleEdit.status == 409 and SlotTaken.status == 409 and PatientNotFound.status == 404
