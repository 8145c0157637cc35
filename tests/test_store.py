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


def test_two_runs_registering_the_same_feeds_at_once_both_succeed(store):
    """Overlapping runs register the configured feeds at the same moment."""
    import threading

    from newspipe import pipeline
    from newspipe.models import FeedRole, FeedSpec

    specs = [FeedSpec(url=f"https://example.org/{n}.xml", name=f"feed {n}") for n in range(30)]
    barrier, results, errors = threading.Barrier(2), [], []

    def register():
        barrier.wait()
        try:
            results.append(pipeline.register_feeds(store, specs))
        except Exception as exc:  # the assertion below reports it
            errors.append(exc)

    threads = [threading.Thread(target=register) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert results[0] == results[1] and len(set(results[0])) == 30
    renamed = [FeedSpec(url=specs[0].url, name="renamed", role=FeedRole.WIRE)]
    assert pipeline.register_feeds(store, renamed) == [results[0][0]]
    with store.connect() as connection:
        row = connection.execute(text("SELECT name, role FROM feeds WHERE id = :id"),
                                 {"id": results[0][0]}).one()
    assert tuple(row) == ("renamed", "wire")


def test_migration_0002_keeps_the_index_and_drops_its_foreign_key(database_url):
    """A store made by the first release upgrades in place, index rows kept; and back."""
    from alembic import command
    from sqlalchemy import create_engine

    from newspipe.store.engine import alembic_config

    def foreign_keys(connection):
        return inspect(connection).get_foreign_keys("lsh_buckets")

    engine = create_engine(database_url)
    try:
        with engine.begin() as connection:
            command.upgrade(alembic_config(connection), "0001")
            connection.execute(text(
                "INSERT INTO articles (id, url, canonical_url, role, status, first_seen_at, "
                "updated_at) VALUES (1, 'https://a.example/1', 'https://a.example/1', "
                "'outlet', 'deduped', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))
            connection.execute(text("INSERT INTO lsh_buckets (bucket, article_id, indexed_at) "
                                    "VALUES (-5, 1, CURRENT_TIMESTAMP)"))
            assert foreign_keys(connection)
        with engine.begin() as connection:
            command.upgrade(alembic_config(connection), "head")
            assert foreign_keys(connection) == []
            assert connection.execute(text("SELECT bucket, article_id FROM lsh_buckets")).all() \
                == [(-5, 1)]
            compare = MigrationContext.configure(connection)
            assert compare_metadata(compare, metadata) == []
            # The index as it was is complete (migration 0003).
            assert connection.execute(text("SELECT id FROM lsh_index_state")).all() == [(1,)]
        with engine.begin() as connection:
            command.downgrade(alembic_config(connection), "0001")
            assert foreign_keys(connection)
            assert connection.execute(text("SELECT count(*) FROM lsh_buckets")).scalar() == 1
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_the_lsh_index_is_unlogged_on_postgresql_and_marked_complete(pg_url):
    """Derived data that writes no WAL (migration 0003); its state row says it is whole."""
    store = open_store(pg_url)
    with store.connect() as connection:
        persistence = dict(connection.execute(text(
            "SELECT relname, relpersistence FROM pg_class WHERE relname IN "
            "('lsh_buckets', 'lsh_index_state', 'articles')")).all())
        assert persistence == {"lsh_buckets": "u", "lsh_index_state": "u", "articles": "p"}
        assert connection.execute(text("SELECT id FROM lsh_index_state")).scalars().all() == [1]
    store.dispose()


LATE_TEXT = ("The harbour authority said on Tuesday that the northern pier would close for "
             "repairs until the end of the summer season, after divers found cracks.")


def _article_state(store, article_id: int) -> tuple:
    from sqlalchemy import select

    from newspipe.store.schema import articles

    with store.connect() as connection:
        return tuple(connection.execute(select(
            articles.c.status, articles.c.error, articles.c.text, articles.c.cluster_id,
            articles.c.updated_at).where(articles.c.id == article_id)).one())


@pytest.mark.parametrize("done_by_other_run", ["extracted", "deduped"])
def test_a_late_extraction_outcome_leaves_an_article_another_run_finished(
        store, done_by_other_run):
    """Overlapping runs, or a retried extract task: the slower one's outcome (a timeout, or
    a text) arrives after the other run extracted the article, or placed it in its story.
    Both extract-stage writers, as `_save_outcomes` calls them, leave it as it is."""
    from newspipe import pipeline
    from newspipe.models import ExtractedArticle
    from newspipe.store import repo

    with store.begin() as connection:
        article_id, pending_id = repo.insert_extracted_articles(connection, [
            {"key": "late", "text": LATE_TEXT}, {"key": "pending", "text": LATE_TEXT}])
        repo.requeue_for_extraction(connection, [pending_id])
    if done_by_other_run == "deduped":
        pipeline.deduplicate_articles(store, [article_id])
    before = _article_state(store, article_id)
    assert before[0] == done_by_other_run

    with store.begin() as connection:
        repo.mark_all_failed(connection, [(article_id, "extraction failed: timed out")])
    assert _article_state(store, article_id) == before
    with store.begin() as connection:  # and says it saved nothing, so nothing is counted
        assert repo.save_extractions(connection, [
            (article_id, ExtractedArticle(text="stale"))]) == []
    assert _article_state(store, article_id) == before

    with store.begin() as connection:  # an article still waiting for extraction is saved
        assert repo.save_extractions(connection, [
            (article_id, ExtractedArticle(text="stale")),
            (pending_id, ExtractedArticle(text="fresh"))]) == [pending_id]
    assert _article_state(store, pending_id)[0] == "extracted"
    with store.begin() as connection:
        repo.requeue_for_extraction(connection, [pending_id])
    with store.begin() as connection:  # and one waiting does fail
        repo.mark_all_failed(connection, [(pending_id, "extraction failed: timed out")])
    assert _article_state(store, pending_id)[:2] == ("failed", "extraction failed: timed out")
