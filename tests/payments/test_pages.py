"""The desk's pages: a bill built and paid without reloads, receipts and copies, the cash-up, bad input, roles."""
from __future__ import annotations

import re

import pytest
from flask import render_template_string

from portal.extensions import db
from portal.payments import services
from tests.helpers import csrf_from, login
from tests.payments.conftest import figures, pay, scalar

HX = {"HX-Request": "true"}


def page(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    return response.get_data(as_text=True)


def form_of(html: str, form_id: str) -> dict:
    """The hidden fields (csrf token, idempotency key) of one form on the page."""
    start = html.index(f'id="{form_id}"')
    chunk = html[start:html.index("</form>", start)]
    fields = dict(re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)"', chunk))
    fields.setdefault("csrf_token", csrf_from(html))
    return fields


@pytest.fixture
def reception(login_as, app, shifts):
    return login_as("reception")


def test_reception_builds_and_takes_a_bill_without_reloads(app, reception, bill, prices):
    html = page(reception, f"/payments/bills/{bill}")
    assert "Ksh 1,500.00" in html and 'id="bill-balance"' in html
    line = reception.post(f"/payments/bills/{bill}/lines", headers=HX,
                          data={**form_of(html, "line-form"), "service_id": prices["lab"], "quantity": "2"})
    body = line.get_data(as_text=True)
    assert line.status_code == 200 and "<html" not in body and 'id="bill"' in body
    assert "Ksh 3,101.00" in body  # 1,500.00 + 2 x 800.50
    partial = reception.post(f"/payments/bills/{bill}/payments", headers=HX,
                             data={**form_of(body, "payment-form"), "method": "cash", "amount": "2,000",
                                   "tendered": "2,500"})
    body = partial.get_data(as_text=True)
    assert partial.status_code == 200 and "change Ksh 500.00" in body and "Partly paid" in body
    mpesa = reception.post(f"/payments/bills/{bill}/payments", headers=HX,
                           data={**form_of(body, "payment-form"), "method": "mpesa", "amount": "1101",
                                 "mpesa_code": "qgh7abc123"})
    body = mpesa.get_data(as_text=True)
    assert mpesa.status_code == 200 and 'id="bill-status">Paid' in body
    row = figures(app, bill)
    assert (row.total_cents, row.paid_cents, row.balance_cents) == (310100, 310100, 0)


def test_a_double_click_posts_one_payment(app, reception, bill):
    html = page(reception, f"/payments/bills/{bill}")
    data = {**form_of(html, "payment-form"), "method": "card", "amount": "500", "reference": "T-1"}
    first = reception.post(f"/payments/bills/{bill}/payments", headers=HX, data=data)
    again = reception.post(f"/payments/bills/{bill}/payments", headers=HX, data=data)
    assert first.status_code == again.status_code == 200
    assert scalar(app, "SELECT count(*) FROM payment") == 1


def test_the_receipt_then_its_reprint_marked_copy(app, reception, bill, desk):
    with app.app_context():
        paid = pay(bill, 150000, desk["reception"], "cash", tendered_cents=200000)
    first = page(reception, f"/payments/receipts/{paid['payment_id']}")
    assert paid["receipt_number"] in first and "COPY" not in first and "Ksh 500.00" in first
    again = page(reception, f"/payments/receipts/{paid['payment_id']}?paper=roll")
    assert 'id="copy-mark">COPY' in again and "paper-roll" in again
    assert scalar(app, "SELECT count(*) FROM receipt_print") == 2


@pytest.mark.parametrize("amount", ["1e9", "-0", "0.001", "12,34,5", "1" * 10_000, "5\x00", "", "0", "-5",
                                    "١٢", "Ksh", "9" * 13])
def test_bad_amounts_are_refused_and_change_nothing(app, reception, bill, amount):
    html = page(reception, f"/payments/bills/{bill}")
    response = reception.post(f"/payments/bills/{bill}/payments", headers=HX,
                              data={**form_of(html, "payment-form"), "method": "card", "amount": amount,
                                    "reference": "T"})
    assert response.status_code in (409, 422), response.status_code
    assert 'role="alert"' in response.get_data(as_text=True)
    assert scalar(app, "SELECT count(*) FROM payment") == 0


@pytest.mark.parametrize("fields", [
    {"method": "cheque", "amount": "100"}, {"method": "mpesa", "amount": "100", "mpesa_code": "short"},
    {"method": "mpesa", "amount": "100", "mpesa_code": "QGH7ABC12\x00"}, {"method": "card", "amount": "100"},
    {"method": "insurance", "amount": "100", "insurer": "NHIF"}, {"method": "card", "amount": "100",
                                                                   "reference": "x" * 10_000},
    {"method": "card", "amount": "1500.01", "reference": "T"},
    {"method": "cash", "amount": "100", "tendered": "50"},
])
def test_bad_payment_forms_are_refused_and_change_nothing(app, reception, bill, fields):
    html = page(reception, f"/payments/bills/{bill}")
    response = reception.post(f"/payments/bills/{bill}/payments", headers=HX,
                              data={**form_of(html, "payment-form"), **fields})
    assert response.status_code in (409, 422)
    assert scalar(app, "SELECT count(*) FROM payment") == 0


def test_duplicate_mpesa_codes_stale_and_unknown_bills(app, reception, bill, desk, visit):
    with app.app_context():
        pay(bill, 100, desk["reception"], "mpesa", mpesa_code="QGH7ABC123")
    html = page(reception, f"/payments/bills/{bill}")
    duplicate = reception.post(f"/payments/bills/{bill}/payments", headers=HX,
                               data={**form_of(html, "payment-form"), "method": "mpesa", "amount": "1",
                                     "mpesa_code": "QGH7ABC123"})
    assert duplicate.status_code == 409 and "already on a payment" in duplicate.get_data(as_text=True)
    unknown = reception.post("/payments/bills/987654321/payments", headers=HX,
                             data={**form_of(html, "payment-form"), "method": "card", "amount": "1",
                                   "reference": "T"})
    assert unknown.status_code == 404
    assert reception.get("/payments/bills/99999999999999999999").status_code == 404
    with app.app_context():
        other = services.open_bill(visit["patient_id"], None, desk["reception"], "k" * 20)
        services.void_bill(other, "opened by mistake", desk["admin"])
    stale = reception.post(f"/payments/bills/{other}/payments", headers=HX,
                           data={**form_of(html, "payment-form"), "method": "card", "amount": "1", "reference": "T"})
    assert stale.status_code == 409 and "void" in stale.get_data(as_text=True)
    assert scalar(app, "SELECT count(*) FROM payment") == 1


@pytest.mark.parametrize("url_part, fields", [
    ("lines", {"service_id": "abc"}), ("lines", {"service_id": "987654"}), ("lines", {"service_id": "{consult}",
                                                                                      "quantity": "0"}),
    ("lines", {"service_id": "{consult}", "quantity": "１"}), ("lines", {"service_id": "{old}"}),
    ("lines", {"service_id": "{dressing}", "unit_price": "1e9"}),
    ("discounts", {"amount": "10", "reason": ""}), ("discounts", {"amount": "-1", "reason": "x"}),
    ("discounts", {"amount": "10", "reason": "x" * 10_000}), ("discounts", {"amount": "10", "reason": "a\x00"}),
    ("discounts", {"amount": "10", "reason": "x", "line_id": "987654"}),
    ("void", {"reason": "x"}),
])
def test_bad_input_on_the_other_bill_forms(app, reception, bill, prices, url_part, fields):
    html = page(reception, f"/payments/bills/{bill}")
    data = {**form_of(html, "line-form"), **{k: v.format(**prices) for k, v in fields.items()}}
    before = (scalar(app, "SELECT count(*) FROM bill_line"), scalar(app, "SELECT count(*) FROM bill_discount"))
    response = reception.post(f"/payments/bills/{bill}/{url_part}", headers=HX, data=data)
    assert response.status_code in (403, 404, 409, 422), response.status_code
    after = (scalar(app, "SELECT count(*) FROM bill_line"), scalar(app, "SELECT count(*) FROM bill_discount"))
    assert before == after
    assert figures(app, bill).status == "open"


def test_refund_and_void_forms(app, login_as, bill, desk, shifts):
    with app.app_context():
        paid = pay(bill, 100000, desk["reception"], "card", reference="T")
    client = login_as("reception")
    html = page(client, f"/payments/bills/{bill}")
    base = {"csrf_token": csrf_from(html), "bill_id": bill}
    for fields in ({"kind": "void", "reason": "x"}, {"kind": "burn", "reason": "x"},
                   {"kind": "refund", "reason": ""}, {"kind": "refund", "amount": "2000", "reason": "x"},
                   {"kind": "refund", "amount": "0.001", "reason": "x"}):
        response = client.post(f"/payments/payments/{paid['payment_id']}/reverse", headers=HX,
                               data={**base, "key": "r" * 20 + fields["kind"] + str(len(fields)), **fields})
        assert response.status_code in (403, 409, 422), (fields, response.status_code)
    assert scalar(app, "SELECT count(*) FROM payment_reversal") == 0
    ok = client.post(f"/payments/payments/{paid['payment_id']}/reverse", headers=HX,
                     data={**base, "key": "k" * 24, "kind": "refund", "amount": "100", "reason": "overcharged"})
    assert ok.status_code == 200 and "overcharged" in ok.get_data(as_text=True)
    assert figures(app, bill).paid_cents == 90000


@pytest.mark.parametrize("role", ["doctor", "nurse"])
def test_doctors_and_nurses_cannot_take_or_void_money(app, login_as, bill, role, desk, shifts):
    with app.app_context():
        paid = pay(bill, 100, desk["reception"], "card", reference="T")
    client = login_as(role)
    token = csrf_from(page(client, "/payments/prices"))
    for url in (f"/payments/bills/{bill}/payments", f"/payments/payments/{paid['payment_id']}/reverse",
                f"/payments/bills/{bill}/void", f"/payments/bills/{bill}/lines",
                f"/payments/payments/{paid['payment_id']}/claim", f"/payments/bills/{bill}/discounts",
                "/payments/shifts/open", "/payments/bills/open"):
        response = client.post(url, data={"csrf_token": token, "method": "cash", "amount": "1", "kind": "void",
                                          "reason": "x", "bill_id": bill, "patient_id": 1})
        assert response.status_code == 403, url
    for url in (f"/payments/bills/{bill}", "/payments/", "/payments/report", "/payments/report.csv",
                "/payments/shifts", "/payments/mpesa", f"/payments/receipts/{paid['payment_id']}"):
        assert client.get(url).status_code == 403, url
    assert scalar(app, "SELECT count(*) FROM payment") == 1
    assert scalar(app, "SELECT count(*) FROM payment_reversal") == 0


def test_reception_cannot_void_or_change_prices(app, reception, bill, prices):
    token = csrf_from(page(reception, "/payments/prices"))
    assert reception.post(f"/payments/bills/{bill}/void", data={"csrf_token": token, "reason": "x"}).status_code == 403
    assert reception.post("/payments/prices/new", data={"csrf_token": token, "code": "X", "name": "X",
                                                        "category": "other", "price": "1"}).status_code == 403


def test_admin_keeps_the_price_list(app, login_as, prices):
    client = login_as("admin")
    html = page(client, "/payments/prices")
    token = csrf_from(html)
    ok = client.post("/payments/prices/new", data={"csrf_token": token, "code": "xr1", "name": "X-ray chest",
                                                   "category": "imaging", "price": "2,500", "is_active": "1"})
    assert ok.status_code == 303
    assert scalar(app, "SELECT price_cents FROM service WHERE code = 'XR1'") == 250000
    for fields in ({"code": "CONS", "name": "Dup", "category": "other", "price": "1"},
                   {"code": "Y", "name": "Y", "category": "spa", "price": "1"},
                   {"code": "Y", "name": "Y", "category": "other", "price": "1e9"},
                   {"code": "Y", "name": "Y", "category": "other", "price": "10", "min_price": "20"},
                   {"code": "bad code!", "name": "Y", "category": "other", "price": "10"},
                   {"code": "Y", "name": "\x00", "category": "other", "price": "10"}):
        response = client.post("/payments/prices/new", data={"csrf_token": token, **fields})
        assert response.status_code in (409, 422), fields
    assert scalar(app, "SELECT count(*) FROM service") == 5


def test_shift_open_count_close_and_the_cash_up(app, login_as, bill, desk):
    client = login_as("reception")
    html = page(client, "/payments/shifts")
    token = csrf_from(html)
    assert client.post("/payments/shifts/open", data={"csrf_token": token, "opening_float": "-1"}).status_code == 422
    opened = client.post("/payments/shifts/open", data={"csrf_token": token, "opening_float": "1,000"})
    assert opened.status_code == 303
    shift_id = int(opened.headers["Location"].rsplit("/", 1)[1])
    with app.app_context():
        pay(bill, 50000, desk["reception"], "cash")
    shift_html = page(client, f"/payments/shifts/{shift_id}")
    assert "Ksh 1,500.00" in shift_html  # float 1,000 + 500 cash
    short = client.post(f"/payments/shifts/{shift_id}/close", data={"csrf_token": token, "counted_cash": "1,400"})
    assert short.status_code == 422 and "explain" in short.get_data(as_text=True)
    bad = client.post(f"/payments/shifts/{shift_id}/close", data={"csrf_token": token, "counted_cash": "1e3"})
    assert bad.status_code == 422
    assert scalar(app, "SELECT count(*) FROM cash_shift WHERE closed_at IS NOT NULL") == 0
    closed = client.post(f"/payments/shifts/{shift_id}/close",
                         data={"csrf_token": token, "counted_cash": "1,400", "note": "100 short, told the admin"})
    assert closed.status_code == 303
    done = page(client, f"/payments/shifts/{shift_id}")
    assert "-Ksh 100.00" in done and "100 short" in done
    report = page(client, "/payments/report")
    assert 'id="day-taken">Ksh 500.00' in report and "Dr. Pay One" in report
    csv_text = client.get("/payments/report.csv").get_data(as_text=True)
    assert "method,Cash,,500.00,0.00" in csv_text and "outstanding,bills,1,1000.00" in csv_text
    assert client.get("/payments/report?day=2026-13-40").status_code == 422


def test_a_cashier_sees_only_their_own_shifts_and_admin_sees_all(app, login_as, shifts):
    client = login_as("reception")
    assert client.get(f"/payments/shifts/{shifts['admin']}").status_code == 404
    assert client.get(f"/payments/shifts/{shifts['reception']}").status_code == 200
    listing = page(client, "/payments/shifts")
    assert f"#{shifts['admin']}<" not in listing
    admin = app.test_client()
    assert login(admin, "admin1").status_code == 302
    listing = page(admin, "/payments/shifts")
    assert f"#{shifts['admin']}<" in listing and f"#{shifts['reception']}<" in listing


def test_outstanding_list_is_keyset_paged_and_bounded(app, reception, bill, visit, desk, prices):
    with app.app_context():
        for n in range(3):
            other = services.open_bill(visit["patient_id"], None, desk["reception"], f"outstanding-key-{n:04d}")
            services.add_line(other, prices["lab"], 1, None, desk["reception"], f"outstanding-line-{n:04d}")
    first = page(reception, "/payments/?limit=2")
    assert first.count("data-bill=") == 2 and "cursor=" in first
    cursor = re.search(r'hx-get="(/payments/\?cursor=[^"]+)"', first).group(1).replace("&amp;", "&")
    rest = reception.get(cursor, headers=HX).get_data(as_text=True)
    assert rest.count("data-bill=") == 2 and "<html" not in rest
    assert page(reception, "/payments/?limit=100000&cursor=junk").count("data-bill=") == 4


def test_the_patient_balance_is_a_template_global(app, bill):
    with app.test_request_context():
        shown = render_template_string("{{ patient_balance(pid)|money }}", pid=scalar(
            app, "SELECT patient_id FROM bill WHERE id = :b", b=bill))
        db.session.rollback()
    assert shown == "Ksh 1,500.00"


def test_a_bill_opened_from_the_desk_form(app, reception, visit):
    token = csrf_from(page(reception, "/payments/shifts"))
    response = reception.post("/payments/bills/open", data={"csrf_token": token, "patient_id": visit["patient_id"],
                                                            "appointment_id": visit["appointment_id"]})
    assert response.status_code == 303
    again = reception.post("/payments/bills/open", data={"csrf_token": token, "patient_id": visit["patient_id"],
                                                         "appointment_id": visit["appointment_id"]})
    assert again.headers["Location"] == response.headers["Location"]
    for fields in ({"patient_id": "x"}, {"patient_id": ""}, {"patient_id": "987654"},
                   {"patient_id": visit["patient_id"], "appointment_id": "1.5"}):
        assert reception.post("/payments/bills/open", data={"csrf_token": token, **fields}).status_code in (404, 422)
    assert scalar(app, "SELECT count(*) FROM bill") == 1


def test_the_balance_and_bill_button_show_on_the_patient_record_for_the_desk_only(app, login_as, bill, visit):
    client = login_as("reception")
    profile = page(client, f"/patients/{visit['patient_id']}")
    assert 'data-owed="150000"' in profile and "Owes Ksh 1,500.00" in profile
    doctor = app.test_client()
    assert login(doctor, "doctor1").status_code == 302
    assert "data-owed" not in page(doctor, f"/patients/{visit['patient_id']}")


def test_the_insurers_answer_from_the_bill_page(app, reception, bill, desk):
    with app.app_context():
        claim = pay(bill, 100000, desk["reception"], "insurance", insurer="NHIF", member_number="M-1")
    html = page(reception, f"/payments/bills/{bill}")
    assert "claim pending" in html
    base = {"csrf_token": csrf_from(html), "bill_id": bill}
    for fields in ({"outcome": "maybe"}, {"outcome": "rejected", "note": ""}, {"outcome": "settled", "note": "\x00"}):
        response = reception.post(f"/payments/payments/{claim['payment_id']}/claim", headers=HX,
                                  data={**base, **fields})
        assert response.status_code == 422, fields
    assert scalar(app, "SELECT count(*) FROM insurance_claim_outcome") == 0
    done = reception.post(f"/payments/payments/{claim['payment_id']}/claim", headers=HX,
                          data={**base, "outcome": "settled"})
    assert done.status_code == 200 and "claim settled" in done.get_data(as_text=True)


def test_the_waiting_room_shows_what_each_patient_owes_and_its_poll_sees_a_payment(app, login_as, bill, desk,
                                                                                 shifts):
    client = login_as("reception")
    room = page(client, "/records/waiting-room")
    assert 'data-owed="150000"' in room and "Ksh 1,500.00" in room
    version = re.search(r'data-version="([^"]+)"', room).group(1)
    with app.app_context():
        pay(bill, 50000, desk["reception"])
    poll = client.get(f"/records/waiting-room?v={version}", headers=HX)
    assert poll.status_code == 200 and 'data-owed="100000"' in poll.get_data(as_text=True)
    assert page(client, "/records/waiting-room").count('data-owed="100000"') == 1  # the page as well
