"""newspipe backfill: import WARC files, ingest a list of URLs, or reprocess a date range.

Manually triggered with validated params (the same as `newspipe backfill` on the command
line):
- mode "warc": `warc_paths`, WARC files readable by the workers (e.g. CC-NEWS downloads);
- mode "urls": `urls`, article URLs fetched through the usual fetch stage;
- mode "reprocess": re-extract (`extract`) and/or re-deduplicate (`dedup`) the pages fetched
  in [`since`, `until`) from the raw archive.

Interval-based reprocessing with Airflow's own backfills: each run of
`airflow backfill create --dag-id newspipe_backfill --from-date 2025-01-01 --to-date 2025-02-01`
reprocesses its data interval (one day), with the params' defaults or `--dag-run-conf`.
The daily schedule exists only for that: scheduled runs stop at their first task (Airflow
requires a schedule for backfills, and a DAG with a schedule must allow scheduled runs).

Imports land as `fetched` articles; extraction and the single publishing task then finish
everything pending, so a backfill that died half-way is finished by the next run of any
newspipe DAG.
"""

from __future__ import annotations

from airflow.sdk import CronDataIntervalTimetable, Param, dag, get_current_context, task
from airflow.sdk.exceptions import AirflowSkipException
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

DATE = {"type": ["null", "string"], "format": "date"}


@dag(
    dag_id="newspipe_backfill",
    # Daily data intervals for `airflow backfill create`; the scheduled run does nothing.
    schedule=CronDataIntervalTimetable("@daily", timezone="UTC"),
    **DAG_DEFAULTS,
    tags=["newspipe"],
    doc_md=__doc__,
    params={
        "mode": Param("reprocess", enum=["reprocess", "warc", "urls"],
                      description="What to backfill."),
        "warc_paths": Param([], type="array", items={"type": "string", "minLength": 1},
                            description="mode warc: WARC file paths on the workers."),
        "urls": Param([], type="array", items={"type": "string", "pattern": "^https?://"},
                      description="mode urls: article URLs to fetch."),
        "since": Param(None, **DATE, description="mode reprocess: first day (UTC); "
                       "default: the run's data interval (airflow backfill create)."),
        "until": Param(None, **DATE, description="mode reprocess: day after the last."),
        "extract": Param(True, type="boolean", description="Re-extract from the raw pages."),
        "dedup": Param(True, type="boolean", description="Place articles in stories again."),
    },
)
def newspipe_backfill():
    @task.short_circuit
    def requested() -> bool:
        """Only manual runs and `airflow backfill create` runs do work."""
        return get_current_context()["dag_run"].run_type != "scheduled"

    @task
    def check_params() -> dict:
        """What the params cannot say alone: a complete request for the chosen mode."""
        context = get_current_context()
        params = context["params"]
        mode = params["mode"]
        if mode == "warc" and not params["warc_paths"]:
            raise ValueError("mode warc needs warc_paths")
        if mode == "urls" and not params["urls"]:
            raise ValueError("mode urls needs urls")
        if mode != "reprocess":
            return {"mode": mode}
        since, until = params["since"], params["until"]
        if since is None and until is None and context["dag_run"].run_type == "backfill":
            since = context["data_interval_start"].isoformat()
            until = context["data_interval_end"].isoformat()
        if not since or not until:
            raise ValueError("mode reprocess needs since and until (or a backfill run)")
        if since >= until:
            raise ValueError(f"since {since} is not before until {until}")
        if not (params["extract"] or params["dedup"]):
            raise ValueError("extract and dedup are both off: nothing to do")
        return {"mode": mode, "since": since, "until": until}

    @task.branch
    def choose(request: dict) -> str:
        return {"warc": "import_warc", "urls": "ingest_urls"}.get(request["mode"], "reprocess")

    @task
    def import_warc() -> dict:
        from newspipe import pipeline

        config = settings()
        paths = get_current_context()["params"]["warc_paths"]
        result = pipeline.import_warc(open_store(config), config, paths)
        if result.errors:  # unreadable files: recorded on the WARC feed, and failed loudly
            raise RuntimeError("; ".join(result.errors))
        return {"records": result.records, "new_articles": len(result.article_ids)}

    @task(pool=HTTP_POOL)
    def ingest_urls() -> dict:
        from newspipe import pipeline

        config = settings()
        urls = get_current_context()["params"]["urls"]
        result = pipeline.ingest_urls(open_store(config), config, urls)
        return {"urls": result.records, "fetched": len(result.article_ids)}

    @task
    def reprocess(request: dict) -> dict:
        from newspipe import pipeline
        from newspipe.cli.backfill import parse_day_or_time

        config = settings()
        params = get_current_context()["params"]
        # Re-extracted articles are placed by `publish`, the single writer of stories.
        result = pipeline.reprocess(
            open_store(config), config, parse_day_or_time(request["since"]),
            parse_day_or_time(request["until"]), extract=params["extract"],
            dedup=params["dedup"] and not params["extract"])
        return {"articles": result.articles, "extracted": len(result.extracted)}

    @task(trigger_rule="none_failed_min_one_success")
    def plan_extractions() -> list[list[int]]:
        from newspipe import pipeline

        return batches(pipeline.fetched_article_ids(open_store(settings())),
                       batch_size("articles", ARTICLES_PER_BATCH))

    @task
    def extract(article_ids: list[int]) -> int:
        from newspipe import pipeline

        return len(pipeline.extract_articles(open_store(settings()), article_ids))

    # Inlet too: its latest events say where the last range announced ends, so what
    # `reprocess` changed (stories taken apart) is announced: by this task, or when it is
    # skipped, by the next publishing task of any newspipe DAG.
    @task(trigger_rule="none_failed", inlets=[CANONICAL_STORE], outlets=[CANONICAL_STORE])
    def publish(extracted: list[int], request: dict) -> dict:
        if request["mode"] == "reprocess" and not get_current_context()["params"]["dedup"]:
            raise AirflowSkipException("dedup is off: articles wait for the next ingest run")
        return deduplicate_and_publish()

    request = check_params()
    requested() >> request
    imports = choose(request) >> [import_warc(), ingest_urls(), reprocess(request)]
    plan = plan_extractions()
    imports >> plan
    publish(extract.expand(article_ids=plan), request)


newspipe_backfill()
