"""The migrations build exactly the schema the models describe, and every one of them can be undone."""
from __future__ import annotations

import os
import uuid

import psycopg
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask_migrate import downgrade, upgrade

from portal import ROOT, create_app
from portal.extensions import db
from tests.helpers import TEST_CONFIG, with_database

# Alembic cannot compare an index on an expression or with an operator class; these two are
# checked by name and by EXPLAIN in tests/patients/test_explain.py.
EXPRESSION_INDEXES = {"ix_patient_phone_prefix", "ix_patient_phone_reversed"}


def _index_name(change) -> str | None:
    return change[1].name if change[0] in ("add_index", "remove_index") else None


def test_the_models_match_the_migrated_schema(app):
    with app.app_context(), db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        changes = compare_metadata(context, db.metadata)
    assert [change for change in changes if _index_name(change) not in EXPRESSION_INDEXES] == []


def test_every_migration_downgrades_and_upgrades_again(postgres_server):
    server = postgres_server
    name = f"kliniki_migrations_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(with_database(server, "postgres"), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = with_database(server, name)
    try:
        app = create_app({**TEST_CONFIG, "SQLALCHEMY_DATABASE_URI": url})
        with app.app_context():
            upgrade()
            downgrade(revision="base")
            with db.engine.connect() as conn:
                tables = conn.exec_driver_sql(
                    "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' "
                    "AND tablename <> 'alembic_version'").scalar()
            assert tables == 0
            upgrade()
            with db.engine.connect() as conn:
                head = ScriptDirectory(os.path.join(ROOT, "migrations")).get_current_head()
                assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == head
            db.engine.dispose()
    finally:
        with psycopg.connect(with_database(server, "postgres"), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
