"""Taking a payment on the bill page costs few round trips and answers with only what changed."""
from __future__ import annotations

import psycopg

from tests.payments.test_pages import HX, form_of, page


def test_a_payment_is_one_lock_one_insert_and_an_answer_of_what_changed(app, login_as, shifts, bill, monkeypatch):
    desk = login_as("reception")
    html = page(desk, f"/payments/bills/{bill}")
    sent: list[str] = []
    execute = psycopg.Cursor.execute

    def counted(cursor, query, params=None, **kw):
        sent.append(str(query))
        return execute(cursor, query, params, **kw)

    monkeypatch.setattr(psycopg.Cursor, "execute", counted)
    answer = desk.post(f"/payments/bills/{bill}/payments", headers=HX,
                       data={**form_of(html, "payment-form"), "method": "card", "amount": "500", "reference": "T1"})
    monkeypatch.undo()
    body = answer.get_data(as_text=True)
    assert answer.status_code == 200 and 'id="payment-posted"' in body
    assert len(sent) <= 9, sent  # was 18: the lock reads the balance and the shift; the answer is one read
    assert sum("FOR UPDATE" in s for s in sent) == 1 and not any("bill_balance" in s and "FOR" in s for s in sent)
    assert 'id="bill"' not in body and 'id="bill-lines"' not in body  # no full re-render
    assert 'hx-swap-oob="true" class="badge status-partly_paid"' in body and 'id="bill-balance">Ksh 1,000.00' in body
    assert 'hx-swap-oob="beforeend:#bill-payments"' in body and "T1" in body
    again = page(desk, f"/payments/bills/{bill}")
    assert again.count('data-payment="') == 1 and 'id="no-payments"' not in again


def test_the_waiting_room_shows_each_patients_balance_from_one_statement(app, login_as, shifts, bill, visit,
                                                                         monkeypatch):
    sent: list[str] = []
    execute = psycopg.Cursor.execute

    def counted(cursor, query, params=None, **kw):
        sent.append(str(query))
        return execute(cursor, query, params, **kw)

    desk = login_as("reception")
    monkeypatch.setattr(psycopg.Cursor, "execute", counted)
    html = page(desk, "/records/waiting-room")
    monkeypatch.undo()
    row = html[html.index(f'data-appointment="{visit["appointment_id"]}"'):]
    assert 'data-owed="150000"' in row[:row.index("</tr>")] and "Ksh 1,500.00" in row[:row.index("</tr>")]
    balance_reads = [s for s in sent if "sum(balance_cents)" in s]
    assert len(balance_reads) == 1 and "ANY" in balance_reads[0], balance_reads


def test_a_doctor_sees_the_waiting_room_without_money(app, login_as, bill):
    html = page(login_as("doctor"), "/records/waiting-room")
    assert "data-owed" not in html and "Owes" not in html
