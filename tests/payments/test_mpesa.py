"""M-Pesa C2B confirmations: secret, store first, always acknowledge, idempotent on TransID, the queue."""
from __future__ import annotations

import json

import pytest

from portal.extensions import db
from portal.payments import services
from tests.helpers import race, running
from tests.payments.conftest import figures, scalar

SECRET = "daraja-test-secret-0123456789"


@pytest.fixture
def mpesa_app(make_app):
    return make_app(MPESA_CALLBACK_SECRET=SECRET, DB_POOL_SIZE=20, DB_MAX_OVERFLOW=40, DB_POOL_TIMEOUT_S=30,
                    DB_LOCK_TIMEOUT_MS=20000)


def callback(trans_id: str, amount: str, ref: str) -> dict:
    return {"TransactionType": "Pay Bill", "TransID": trans_id, "TransTime": "20261202101530",
            "TransAmount": amount, "BusinessShortCode": "600000", "BillRefNumber": ref,
            "MSISDN": "254712000001", "FirstName": "AMINA", "MiddleName": "", "LastName": "WANJIRU"}


def post(client, payload, secret=SECRET, **kwargs):
    return client.post(f"/payments/mpesa/confirmation/{secret}", data=json.dumps(payload),
                       content_type="application/json", **kwargs)


def test_a_callback_naming_the_bill_with_the_exact_balance_is_applied(mpesa_app, bill):
    client = mpesa_app.test_client()
    response = post(client, callback("QGH7ABC123", "1500.00", f"B{bill}"))
    assert response.status_code == 200 and response.get_json()["ResultCode"] == 0
    row = figures(mpesa_app, bill)
    assert (row.paid_cents, row.status) == (150000, "paid")
    assert scalar(mpesa_app, "SELECT mpesa_code FROM payment") == "QGH7ABC123"


def test_a_file_number_finds_the_patients_open_bill(mpesa_app, bill, visit):
    post(mpesa_app.test_client(), callback("QGH7ABC124", "1500", visit["file_number"]))
    assert figures(mpesa_app, bill).status == "paid"


@pytest.mark.parametrize("amount, ref, reason", [
    ("1000.00", "B{bill}", "short"), ("2000.00", "B{bill}", "over"), ("1500.00", "nobody", "unmatched"),
    ("abc", "B{bill}", "invalid"), ("-5", "B{bill}", "invalid"),
])
def test_unmatched_short_over_and_junk_go_to_the_queue(mpesa_app, bill, amount, ref, reason):
    response = post(mpesa_app.test_client(), callback("QGH7ABC125", amount, ref.format(bill=bill)))
    assert response.status_code == 200
    assert scalar(mpesa_app, "SELECT count(*) FROM payment") == 0
    assert scalar(mpesa_app, "SELECT queue_reason FROM mpesa_confirmation WHERE status = 'queued'") == reason


def test_reception_allocates_a_queued_payment_through_the_same_rules(mpesa_app, bill, desk):
    post(mpesa_app.test_client(), callback("QGH7ABC126", "1000", "wrong"))
    with mpesa_app.app_context():
        confirmation = db.session.execute(db.text("SELECT id FROM mpesa_confirmation")).scalar()
        db.session.rollback()
        result = services.allocate_confirmation(confirmation, bill, desk["reception"])
        with pytest.raises(services.Conflict):
            services.allocate_confirmation(confirmation, bill, desk["reception"])
    assert result["amount_cents"] == 100000
    assert figures(mpesa_app, bill).status == "partly_paid"


def test_a_wrong_secret_or_address_is_refused_and_stores_nothing(mpesa_app, make_app, bill):
    assert post(mpesa_app.test_client(), callback("QGH7ABC127", "1500", f"B{bill}"), secret="wrong").status_code == 404
    guarded = make_app(MPESA_CALLBACK_SECRET=SECRET, MPESA_ALLOWED_IPS="196.201.214.200")
    assert post(guarded.test_client(), callback("QGH7ABC127", "1500", f"B{bill}")).status_code == 403
    unset = make_app(MPESA_CALLBACK_SECRET="")
    assert post(unset.test_client(), callback("QGH7ABC127", "1500", f"B{bill}"), secret="x").status_code == 404
    assert scalar(mpesa_app, "SELECT count(*) FROM mpesa_confirmation") == 0


def test_junk_bodies_are_acknowledged_and_change_nothing(mpesa_app):
    client = mpesa_app.test_client()
    for body in ("not json", "[]", json.dumps({"TransID": None}), json.dumps({"TransID": "X\x00" * 5000})):
        response = client.post(f"/payments/mpesa/confirmation/{SECRET}", data=body, content_type="application/json")
        assert response.status_code == 200
    assert scalar(mpesa_app, "SELECT count(*) FROM payment") == 0


def test_the_same_callback_50_times_at_once_is_one_payment(mpesa_app, bill):
    payload = callback("QGH7ABC128", "1500.00", f"B{bill}")
    with running(mpesa_app) as url:
        def send():
            return _post_json(f"{url}/payments/mpesa/confirmation/{SECRET}", payload)
        outcomes = race(mpesa_app, [send] * 50, connect_first=False)
    failures = [o for o in outcomes if not isinstance(o, tuple)]
    assert not failures, failures[:3]
    assert all(o[0] == 200 and json.loads(o[1])["ResultCode"] == 0 for o in outcomes)
    assert scalar(mpesa_app, "SELECT count(*) FROM mpesa_confirmation") == 1
    assert scalar(mpesa_app, "SELECT count(*) FROM payment") == 1
    assert figures(mpesa_app, bill).paid_cents == 150000


def _post_json(url: str, payload: dict):
    import urllib.request
    request = urllib.request.Request(url, data=json.dumps(payload).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return response.status, response.read().decode()
