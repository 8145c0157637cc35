"""Example consumer: how a downstream team reacts to new canonical records.

Scheduled on the `newspipe_canonical_store` Asset: it runs after every newspipe run that
changed stories. Each triggering event says which `changes` ids are new; the task reads
those changes and the stories they touch through newspipe's read API and appends them, as
JSON Lines in the export format, to $NEWSPIPE_CONSUMER_OUTPUT (default
/tmp/newspipe-consumer.jsonl). Replace that with your own sink: a search index, a queue,
a warehouse table. Change ids are a cursor: reading the same range twice is harmless.
"""

from __future__ import annotations

import json
import logging
import os

from airflow.sdk import dag, get_current_context, task
from newspipe_common import CANONICAL_STORE, DAG_DEFAULTS, open_store, settings

log = logging.getLogger(__name__)


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
        from newspipe.store.read import canonical_records, changes_since

        events = get_current_context()["triggering_asset_events"][CANONICAL_STORE]
        if not events:
            return {"events": 0, "stories": 0}
        start = min(e.extra["changes_from"] for e in events)
        end = max(e.extra["changes_to"] for e in events)
        log.info("%d event(s): %d new stories, %d new duplicates, %d changed canonicals",
                 len(events), *(sum(e.extra[k] for e in events) for k in
                                ("new_stories", "new_duplicates", "changed_canonicals")))
        store = open_store(settings())
        changed = {c["cluster_id"] for c in changes_since(store, start, limit=end - start)}
        path = os.environ.get("NEWSPIPE_CONSUMER_OUTPUT", "/tmp/newspipe-consumer.jsonl")
        written = 0
        with open(path, "a", encoding="utf-8") as output:
            for record in canonical_records(store, story_ids=changed):
                output.write(json.dumps(record, ensure_ascii=False) + "\n")
                written += 1
        return {"events": len(events), "stories": written}

    export_changed_stories()


newspipe_consumer_example()
