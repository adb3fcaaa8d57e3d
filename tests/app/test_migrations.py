"""The Alembic revisions build exactly the models, and go down and up again cleanly."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from app.extensions import db as _db


def _diff():
    with _db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return compare_metadata(context, _db.metadata)


def test_migrations_match_models(db):
    assert _diff() == []


def test_downgrade_and_upgrade_again(db):
    downgrade(revision="base")
    with _db.engine.connect() as conn:
        tables = _db.inspect(conn).get_table_names() if hasattr(_db, "inspect") else None
    from sqlalchemy import inspect

    remaining = set(inspect(_db.engine).get_table_names()) - {"alembic_version"}
    assert remaining == set()
    upgrade()
    assert _diff() == []
    assert tables is None or "hospital" not in tables
