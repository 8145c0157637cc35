"""newspipe ingest: poll feeds -> fetch pages -> extract -> deduplicate and publish.

Wiring only: every task calls a stage function of `newspipe.pipeline`, imported inside the
task so the DAG file parses fast. Tasks pass ids, never article bodies.
Configuration: the store URL from the Airflow connection `newspipe_store` or
$NEWSPIPE_DATABASE_URL; the feed list from the TOML file $NEWSPIPE_CONFIG.
"""

from __future__ import annotations

import os

import pendulum
from airflow.sdk import dag, task


def _settings():
    from newspipe.config import load_settings

    config = os.environ.get("NEWSPIPE_CONFIG")
    settings = load_settings(config, database_url=_store_url())
    return settings


def _store_url() -> str | None:
    from airflow.sdk import Connection
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        return Connection.get("newspipe_store").get_uri()
    except AirflowNotFoundException:
        return None


def _store(settings):
    from newspipe.store import open_store

    return open_store(settings.database_url)


@dag(
    dag_id="newspipe_ingest",
    schedule=os.environ.get("NEWSPIPE_INGEST_SCHEDULE", "*/15 * * * *"),
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["newspipe"],
    doc_md=__doc__,
)
def newspipe_ingest():
    @task
    def poll() -> list[int]:
        from newspipe import pipeline

        settings = _settings()
        store = _store(settings)
        pipeline.register_feeds(store, settings.feeds)
        return pipeline.poll_feeds(store, settings).new_entry_ids

    @task
    def fetch(entry_ids: list[int]) -> list[int]:
        from newspipe import pipeline

        settings = _settings()
        return pipeline.fetch_articles(_store(settings), settings)

    @task
    def extract(article_ids: list[int]) -> list[int]:
        from newspipe import pipeline

        return pipeline.extract_articles(_store(_settings()))

    @task
    def deduplicate(article_ids: list[int]) -> dict:
        from newspipe import pipeline

        result = pipeline.deduplicate_articles(_store(_settings()))
        return {"new_stories": result.new_stories, "new_duplicates": result.new_duplicates,
                "changed_canonicals": result.changed_canonicals}

    deduplicate(extract(fetch(poll())))


newspipe_ingest()
