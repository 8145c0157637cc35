"""newspipe ingest: poll feeds -> fetch pages -> extract -> deduplicate and publish.

Wiring only: every task calls a stage function of `newspipe.pipeline`, imported inside the
task so the DAG file parses fast. Tasks pass ids and small summaries, never article bodies.

- Every 15 minutes ($NEWSPIPE_INGEST_SCHEDULE, a cron expression), no catch-up, one active
  run at a time.
- Polling and fetching are mapped over batches of ids (never more than core.max_map_length
  tasks) and run in the `newspipe_http` pool, which bounds HTTP concurrency.
- Each planning task looks at what is pending in the store, not only at what its upstream
  returned: work left by a run that died half-way is picked up by the next one.
- One publishing task deduplicates (the store serialises writers) and emits an event on the
  `newspipe_canonical_store` Asset with the counts; it is skipped when nothing changed.

Configuration: see newspipe_common.py (connection `newspipe_store`, $NEWSPIPE_CONFIG).
"""

from __future__ import annotations

import os

import pendulum
from airflow.sdk import dag, task
from newspipe_common import (
    ARTICLES_PER_BATCH,
    CANONICAL_STORE,
    DAG_DEFAULTS,
    HTTP_POOL,
    batch_size,
    batches,
    deduplicate_and_publish,
    open_store,
    settings,
)

# Upstream mapped tasks may all be skipped (nothing new): the next steps still run, to
# finish work left pending by earlier runs.
AFTER_MAPPED = "none_failed"


@dag(
    dag_id="newspipe_ingest",
    schedule=os.environ.get("NEWSPIPE_INGEST_SCHEDULE", "*/15 * * * *"),
    **DAG_DEFAULTS,
    dagrun_timeout=pendulum.duration(hours=2),
    tags=["newspipe"],
    doc_md=__doc__,
)
def newspipe_ingest():
    @task
    def plan_polls() -> list[list[int]]:
        """Register the configured feeds; batches of the feed ids to poll."""
        from newspipe import pipeline

        config = settings()
        store = open_store(config)
        pipeline.register_feeds(store, config.feeds)
        return batches(pipeline.pollable_feed_ids(store), batch_size("feeds", 20))

    @task(pool=HTTP_POOL)
    def poll(feed_ids: list[int]) -> dict[str, int]:
        from newspipe import pipeline

        config = settings()
        result = pipeline.poll_feeds(open_store(config), config, feed_ids)
        return {"feeds": result.feeds, "failed": result.failed,
                "new_entries": len(result.new_entry_ids)}

    @task(trigger_rule=AFTER_MAPPED)
    def plan_fetches(polled: list[dict[str, int]]) -> list[list[int]]:
        from newspipe import pipeline

        return batches(pipeline.pending_entry_ids(open_store(settings())),
                       batch_size("entries", 50))

    @task(pool=HTTP_POOL)
    def fetch(entry_ids: list[int]) -> int:
        from newspipe import pipeline

        config = settings()
        return len(pipeline.fetch_articles(open_store(config), config, entry_ids))

    @task(trigger_rule=AFTER_MAPPED)
    def plan_extractions(fetched: list[int]) -> list[list[int]]:
        from newspipe import pipeline

        return batches(pipeline.fetched_article_ids(open_store(settings())),
                       batch_size("articles", ARTICLES_PER_BATCH))

    @task
    def extract(article_ids: list[int]) -> int:
        from newspipe import pipeline

        return len(pipeline.extract_articles(open_store(settings()), article_ids))

    # Inlet too: its latest events say where the last range announced ends.
    @task(trigger_rule=AFTER_MAPPED, inlets=[CANONICAL_STORE], outlets=[CANONICAL_STORE])
    def publish(extracted: list[int]) -> dict[str, int]:
        return deduplicate_and_publish()

    polled = poll.expand(feed_ids=plan_polls())
    fetched = fetch.expand(entry_ids=plan_fetches(polled))
    extracted = extract.expand(article_ids=plan_extractions(fetched))
    publish(extracted)


newspipe_ingest()
