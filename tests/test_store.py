import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from newspipe.store import StoreError, open_store
from newspipe.store.schema import metadata


def test_migrations_create_exactly_the_schema(store):
    with store.connect() as connection:
        context = MigrationContext.configure(connection)
        assert compare_metadata(context, metadata) == []
        assert "canonical_articles" in inspect(connection).get_view_names()


def test_migrate_is_idempotent_and_view_is_queryable(store):
    store.migrate()
    with store.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM canonical_articles")).scalar() == 0


def test_unusable_urls_are_one_clear_error(tmp_path):
    with pytest.raises(StoreError, match="not a database URL"):
        open_store("no such thing")
    with pytest.raises(StoreError, match="cannot (open|use) the store at .*Connection refused"):
        open_store("postgresql://postgres@127.0.0.1:1/nothing")


def test_reader_refuses_a_store_without_schema(sqlite_url):
    with pytest.raises(StoreError, match="newspipe db upgrade"):
        open_store(sqlite_url, migrate=False)
