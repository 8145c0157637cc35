"""Example consumer: how a downstream team reacts to new canonical records.

Scheduled on the `newspipe_canonical_store` Asset: it runs after every newspipe run that
changed stories. Each triggering event says which `changes` ids are new; the task reads
those changes, a page at a time (the first event's range is the whole change log), and
appends the stories they touch, as JSON Lines in the export format, to
$NEWSPIPE_CONSUMER_OUTPUT (default /tmp/newspipe-consumer.jsonl). An event without a range
(one created by hand in the UI, say) is skipped with a log line. Replace the file with your
own sink: a search index, a queue, a warehouse table. Change ids are a cursor: reading the
same range twice is harmless.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, TextIO

from airflow.sdk import dag, get_current_context, task
from newspipe_common import CANONICAL_STORE, DAG_DEFAULTS, open_store, settings

if TYPE_CHECKING:
    from newspipe.store import Store

log = logging.getLogger(__name__)

# Changes (and stories) read at a time: a store with history has a long log, and the first
# event announces all of it.
CHANGES_PER_PAGE = 1000


def announced(events: Iterable[Any]) -> list[dict]:
    """The extras of the events that announce a range of changes (changes_from,
    changes_to]; the others (made by hand in the UI, say) are logged and skipped."""
    extras = []
    for event in events:
        extra = event.extra or {}
        if all(isinstance(extra.get(k), int) for k in ("changes_from", "changes_to")):
            extras.append(extra)
        else:
            log.warning("skipping an Asset event without changes_from/changes_to "
                        "(made by hand?): extra=%r", extra)
    return extras


def changed_story_ids(store: Store, start: int, end: int,
                      per_page: int = CHANGES_PER_PAGE) -> set[int]:
    """The stories the changes (start, end] touch, read `per_page` changes at a time."""
    from newspipe.store.read import changes_since

    stories: set[int] = set()
    cursor = start
    while cursor < end:
        page = changes_since(store, cursor, limit=min(per_page, end - cursor))
        if not page:
            break
        stories.update(c["cluster_id"] for c in page
                       if c["id"] <= end and c["cluster_id"] is not None)
        cursor = page[-1]["id"]
    return stories


def export_stories(store: Store, story_ids: Iterable[int], output: TextIO,
                   per_page: int = CHANGES_PER_PAGE) -> int:
    """Write the stories' canonical records as `newspipe export` does, oldest first, read
    `per_page` stories at a time (a query names each id: SQLite allows only so many)."""
    from newspipe.store.read import canonical_records

    ids, written = sorted(story_ids), 0
    for i in range(0, len(ids), per_page):
        for record in canonical_records(store, story_ids=ids[i:i + per_page]):
            output.write(json.dumps(record, ensure_ascii=False) + "\n")
            written += 1
    return written


@dag(
    dag_id="newspipe_consumer_example",
    schedule=[CANONICAL_STORE],
    **DAG_DEFAULTS,
    tags=["newspipe", "example"],
    doc_md=__doc__,
)
def newspipe_consumer_example():
    @task
    def export_changed_stories() -> dict:
        events = get_current_context()["triggering_asset_events"][CANONICAL_STORE]
        extras = announced(events)
        if not extras:
            return {"events": len(events), "skipped": len(events), "stories": 0}
        # Successive events' ranges adjoin (or overlap): together, one range.
        start = min(e["changes_from"] for e in extras)
        end = max(e["changes_to"] for e in extras)
        counts = {k: sum(e.get(k, 0) for e in extras)
                  for k in ("new_stories", "new_duplicates", "changed_canonicals")}
        log.info("%d event(s), changes (%d, %d]: %s", len(extras), start, end, counts)
        store = open_store(settings())
        changed = changed_story_ids(store, start, end)
        path = os.environ.get("NEWSPIPE_CONSUMER_OUTPUT", "/tmp/newspipe-consumer.jsonl")
        with open(path, "a", encoding="utf-8") as output:
            written = export_stories(store, changed, output)
        return {"events": len(events), "skipped": len(events) - len(extras),
                "stories": written}

    export_changed_stories()


newspipe_consumer_example()
