"""newspipe maintenance, daily: prune the LSH index outside the retention window
($NEWSPIPE_RETENTION_DAYS, default 30), report feed health, keep the database tidy.

Feed health is logged and returned (small: one line per unhealthy feed); the task fails
when every feed is failing, which usually means the workers lost the network.
"""

from __future__ import annotations

import logging

from airflow.sdk import dag, task
from newspipe_common import DAG_DEFAULTS, open_store, settings

log = logging.getLogger(__name__)


@dag(
    dag_id="newspipe_maintenance",
    schedule="@daily",
    **DAG_DEFAULTS,
    tags=["newspipe"],
    doc_md=__doc__,
)
def newspipe_maintenance():
    @task
    def prune_index() -> int:
        from newspipe import pipeline

        config = settings()
        removed = pipeline.prune_index(open_store(config), config)
        log.info("pruned %d LSH index rows older than %d days", removed, config.retention_days)
        return removed

    @task
    def report_feed_health() -> dict:
        from newspipe import pipeline

        health = pipeline.feed_health_report(open_store(settings()))
        for problem in health.problems():
            log.warning("%s", problem)
        if health.all_failing:
            raise RuntimeError(health.all_failing_message())
        return {"feeds": health.feeds, "unhealthy": len(health.unhealthy),
                "unhealthy_ids": [f["id"] for f in health.unhealthy][:100]}

    @task(trigger_rule="all_done")
    def tidy_database() -> None:
        from newspipe import pipeline

        pipeline.tidy_store(open_store(settings()))

    [prune_index(), report_feed_health()] >> tidy_database()


newspipe_maintenance()
