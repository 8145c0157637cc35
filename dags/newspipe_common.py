"""Shared wiring for the newspipe DAGs: configuration, the store Asset, the HTTP pool,
retry policy and batching. Not a DAG file (see .airflowignore); no heavy imports at the top.

Configuration: the store URL comes from the Airflow connection `newspipe_store` (for
example AIRFLOW_CONN_NEWSPIPE_STORE='postgresql://newspipe:...@db/newspipe', or one made in
the UI), else $NEWSPIPE_DATABASE_URL; the feed list and settings from the TOML file
$NEWSPIPE_CONFIG. No secret lives in the repository.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pendulum
from airflow.sdk import Asset

if TYPE_CHECKING:
    from airflow.sdk.execution_time.context import InletEventsAccessors

    from newspipe.config import Settings
    from newspipe.store import Store

STORE_CONNECTION_ID = "newspipe_store"

# The canonical store, as downstream DAGs see it: one event per publishing run that changed
# stories, carrying the counts and the range of `changes` ids to read (each range starts
# where the previous event's ended).
CANONICAL_STORE = Asset(name="newspipe_canonical_store", uri="newspipe://canonical-store",
                        group="newspipe")

# Bounds how many tasks talk HTTP at once, over every newspipe DAG (create it with
# `airflow pools set newspipe_http 4 "newspipe HTTP"`; the compose init service does).
HTTP_POOL = "newspipe_http"

# Transient failures (a store restart, a network blip) are retried: 1, 2, 4... minutes.
DEFAULT_ARGS: dict[str, Any] = {
    "owner": "newspipe",
    "retries": int(os.environ.get("NEWSPIPE_TASK_RETRIES", "3")),
    "retry_delay": timedelta(minutes=1),
    "retry_exponential_backoff": 2.0,
    "max_retry_delay": timedelta(minutes=30),
}

# What every newspipe DAG shares: no catch-up, one active run at a time, the retries above.
DAG_DEFAULTS: dict[str, Any] = {
    "start_date": pendulum.datetime(2025, 1, 1, tz="UTC"),
    "catchup": False,
    "max_active_runs": 1,
    "default_args": DEFAULT_ARGS,
}


def store_url() -> str | None:
    """The URL of the connection `newspipe_store`, if there is one."""
    from airflow.sdk import Connection
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        connection = Connection.get(STORE_CONNECTION_ID)
    except AirflowNotFoundException:
        return None
    # get_uri() would percent-encode a SQLite file path (kept in `schema`, or `host` when
    # the connection was made in the UI).
    if connection.conn_type == "sqlite":
        return f"sqlite:///{connection.host or connection.schema}"
    return connection.get_uri()


def settings() -> Settings:
    from newspipe.config import load_settings

    return load_settings(os.environ.get("NEWSPIPE_CONFIG"), database_url=store_url())


def open_store(settings: Settings) -> Store:
    from newspipe.store import open_store as open_newspipe_store

    return open_newspipe_store(settings.database_url)


def max_batches() -> int:
    """Never map more tasks than Airflow allows (core.max_map_length), nor more than is
    useful (NEWSPIPE_MAX_BATCHES)."""
    from airflow.sdk.configuration import conf

    limit = conf.getint("core", "max_map_length", fallback=1024)
    return max(1, min(limit, int(os.environ.get("NEWSPIPE_MAX_BATCHES", "32"))))


def batches(ids: Sequence[int], per_batch: int) -> list[list[int]]:
    """Split ids into contiguous batches of about `per_batch`, at most max_batches() of them
    (a long list makes bigger batches, never more mapped tasks)."""
    if not ids:
        return []
    count = min(max_batches(), math.ceil(len(ids) / max(1, per_batch)))
    size = math.ceil(len(ids) / count)
    return [list(ids[i:i + size]) for i in range(0, len(ids), size)]


def batch_size(name: str, default: int) -> int:
    return int(os.environ.get(f"NEWSPIPE_{name.upper()}_PER_BATCH", str(default)))


# Articles per extract task. Each task starts its extraction workers (~2.2 s of CPU: the
# forkserver's imports and warm-up) before its pages (~18 ms each): at 50 that start was
# ~70 % of a task's CPU, at 200 it is ~40 % (measured on extraction-dev + dedup-dev pages).
ARTICLES_PER_BATCH = 200


# How many of the Asset's latest events are looked at for the last range announced: the
# newest of ours is among them unless someone created that many events by hand.
RECENT_EVENTS = 20


def last_announced_change(inlet_events: InletEventsAccessors, store: str) -> int:
    """Where the ranges announced so far for this store end: the largest `changes_to` among
    the latest events on CANONICAL_STORE (an inlet of the publishing task) whose `store` is
    this store's id (or absent: events from before stores had ids); 0 before the first
    event, so the first one covers the whole log. Airflow records a task's outlet event
    when the task succeeds, so only ranges consumers were really given count: the changes
    of an attempt that died after committing batches are in the next event."""
    recent = inlet_events[CANONICAL_STORE].ascending(False).limit(RECENT_EVENTS)
    ends = [extra.get("changes_to") for extra in (event.extra or {} for event in recent)
            if extra.get("store", store) == store]
    return max((end for end in ends if isinstance(end, int)), default=0)


def changes_to_announce(inlet_events: InletEventsAccessors, store: Store,
                        this_store: str) -> tuple[int, int]:
    """The `changes` ids (from, to] the next event announces: from the end of the ranges
    announced so far for the store (`this_store`, its id) to the newest change."""
    from newspipe.store.read import latest_change_id

    start, end = last_announced_change(inlet_events, this_store), latest_change_id(store)
    if start > end:  # change ids never go back: the events were about another store
        start = 0
    return start, end


def deduplicate_and_publish() -> dict[str, int | str]:
    """The single writer of stories (the store serialises writers): every extracted
    article, including any left by an earlier run, placed in its story. The task's event on
    CANONICAL_STORE carries the counts and the `changes` ids (changes_from, changes_to] that
    consumers read with newspipe.store.read.changes_since; no event when nothing changed.

    Each range starts where the announced ones end, so together they cover the log without
    a gap: two publishers racing (ingest and backfill) may announce some changes twice,
    which consumers tolerate (a change id is a cursor), but none is left out. The calling
    task must have CANONICAL_STORE among its inlets as well as its outlets."""
    from airflow.sdk import get_current_context
    from airflow.sdk.exceptions import AirflowSkipException

    from newspipe import pipeline
    from newspipe.store.read import store_id

    context = get_current_context()
    config = settings()
    store = open_store(config)
    dedup = pipeline.deduplicate_articles(store, deduplicator=pipeline.deduplicator_for(config))
    this_store = store_id(store)
    changes_from, changes_to = changes_to_announce(context["inlet_events"], store, this_store)
    summary = {"articles": dedup.articles, "new_stories": dedup.new_stories,
               "new_duplicates": dedup.new_duplicates,
               "changed_canonicals": dedup.changed_canonicals,
               "changes_from": changes_from, "changes_to": changes_to,
               "store": this_store}
    if changes_to == changes_from:
        raise AirflowSkipException("no story changed: no Asset event")
    context["outlet_events"][CANONICAL_STORE].extra = summary
    return summary
