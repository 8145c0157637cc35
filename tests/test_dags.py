"""The Airflow front end: DAG files import cleanly, are wired as documented, and
`dag.test()` runs the stages on SQLite and PostgreSQL stores. Runs dag.test() cannot make
(asset-triggered, backfill) are made as the scheduler or `airflow backfill create` makes
them, and their tasks run with `airflow tasks test`."""

from __future__ import annotations

import importlib
import io
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

pytest.importorskip("airflow")

from airflow.dag_processing.dagbag import BundleDagBag  # noqa: E402
from sqlalchemy import delete, func, select, update  # noqa: E402

from newspipe import pipeline  # noqa: E402
from newspipe.store import open_store, repo  # noqa: E402
from newspipe.store.read import (  # noqa: E402
    canonical_records,
    changes_since,
    latest_change_id,
    store_id,
    summary,
)
from newspipe.store.schema import articles  # noqa: E402

DAGS = Path(__file__).resolve().parents[1] / "dags"
DAG_IDS = {"newspipe_ingest", "newspipe_backfill", "newspipe_maintenance",
           "newspipe_consumer_example"}


def dag_bag() -> BundleDagBag:
    """The DAG folder as Airflow 3 loads it: a bundle, its folder importable. The shared
    module is read again, as a fresh Airflow process would, with this test's environment."""
    sys.modules.pop("newspipe_common", None)
    return BundleDagBag(dag_folder=str(DAGS), bundle_path=DAGS)


@pytest.fixture
def feeds_file(tmp_path, seed_server):
    from newspipe.demo import seeds_dir

    text = (seeds_dir() / "feeds.toml").read_text().replace("{{base}}", seed_server.base_url)
    path = tmp_path / "feeds.toml"
    path.write_text('[newspipe]\nallow_private_hosts = ["127.0.0.1"]\n\n' + text)
    return path


@pytest.fixture
def newspipe_env(monkeypatch, database_url, feeds_file):
    """What a deployment sets: the store (here through the `newspipe_store` connection),
    the feed list; small batches so mapping really fans out; failures surface at once."""
    monkeypatch.setenv("AIRFLOW_CONN_NEWSPIPE_STORE", database_url)
    monkeypatch.delenv("NEWSPIPE_DATABASE_URL", raising=False)
    monkeypatch.setenv("NEWSPIPE_CONFIG", str(feeds_file))
    monkeypatch.setenv("NEWSPIPE_FEEDS_PER_BATCH", "2")
    monkeypatch.setenv("NEWSPIPE_ENTRIES_PER_BATCH", "3")
    monkeypatch.setenv("NEWSPIPE_TASK_RETRIES", "0")
    forget_asset_events()
    return database_url


def forget_asset_events() -> None:
    """Each test's store is new, so must the Asset's history be: publishing starts its range
    where the last event's ended, and the session's tests share one Airflow database."""
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    with create_session() as session:
        session.execute(delete(AssetEvent).where(AssetEvent.asset_id.in_(
            select(AssetModel.id).where(AssetModel.name == "newspipe_canonical_store"))))


def asset_events(run) -> list[dict]:
    from airflow.models.asset import AssetEvent
    from airflow.utils.session import create_session

    with create_session() as session:
        return [e.extra for e in session.scalars(
            select(AssetEvent).where(AssetEvent.source_run_id == run.run_id))]


def task_states(run) -> dict[str, list[str]]:
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        states: dict[str, list[str]] = {}
        for ti in session.scalars(select(TaskInstance).where(
                TaskInstance.run_id == run.run_id, TaskInstance.dag_id == run.dag_id)):
            states.setdefault(ti.task_id, []).append(str(ti.state))
        return states


def asset_event_ids(run) -> list[int]:
    from airflow.models.asset import AssetEvent
    from airflow.utils.session import create_session

    with create_session() as session:
        return list(session.scalars(select(AssetEvent.id).where(
            AssetEvent.source_run_id == run.run_id)))


def asset_event_by_hand(extra: dict) -> int:
    """An event on the store's Asset as the UI makes one (its REST API calls
    register_asset_change with no task behind it); its id."""
    from airflow.assets.manager import AssetManager
    from airflow.models.asset import AssetModel
    from airflow.utils.session import create_session

    with create_session() as session:
        asset = session.scalar(select(AssetModel).where(
            AssetModel.name == "newspipe_canonical_store"))
        return AssetManager.register_asset_change(asset=asset, extra=extra,
                                                  source_is_api=True, session=session).id


def asset_triggered_run(dag_id: str, event_ids: list[int]) -> str:
    """A run of `dag_id` made as the scheduler makes one for queued Asset events
    (SchedulerJobRunner._create_dag_runs_asset_triggered: create_dagrun of run type
    asset_triggered, then the events linked as the run's consumed events), then started;
    its run id. dag.test() cannot make it: it always makes a manual run, which consumes
    no event."""
    from airflow.models.asset import AssetEvent
    from airflow.models.dagbag import DBDagBag
    from airflow.models.dagrun import DagRun
    from airflow.sdk import timezone
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState
    from airflow.utils.types import DagRunTriggeredByType, DagRunType

    with create_session() as session:
        dag = DBDagBag().get_latest_version_of_dag(dag_id, session=session)
        now = timezone.utcnow()
        run = dag.create_dagrun(
            run_id=DagRun.generate_run_id(run_type=DagRunType.ASSET_TRIGGERED,
                                          logical_date=None, run_after=now),
            logical_date=None, data_interval=None, run_after=now,
            run_type=DagRunType.ASSET_TRIGGERED, triggered_by=DagRunTriggeredByType.ASSET,
            state=DagRunState.RUNNING, session=session)
        run.consumed_asset_events.extend(session.scalars(
            select(AssetEvent).where(AssetEvent.id.in_(event_ids))
            .order_by(AssetEvent.timestamp)))
        return run.run_id


def airflow_cli(*argv: str) -> None:
    """An `airflow` command, run in this process (on the session's metadata database)."""
    from airflow.cli import cli_parser

    args = cli_parser.get_parser().parse_args(list(argv))
    args.func(args)


def run_task(dag_id: str, task_id: str, run_id: str) -> tuple[str, object]:
    """`airflow tasks test DAG TASK RUN_ID`: the task of an existing run, by the runner
    dag.test() uses (the context comes from the run: its consumed events are the
    triggering_asset_events, its type and data interval are the run's); its state and
    return value."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    airflow_cli("tasks", "test", dag_id, task_id, run_id)
    with create_session() as session:
        state = session.scalar(select(TaskInstance.state).where(
            TaskInstance.dag_id == dag_id, TaskInstance.task_id == task_id,
            TaskInstance.run_id == run_id))
        value = session.scalar(select(XComModel.value).where(
            XComModel.dag_id == dag_id, XComModel.task_id == task_id,
            XComModel.run_id == run_id, XComModel.key == "return_value"))
    return str(state), value


def consumer_module():
    """The consumer DAG file, imported for its helpers."""
    sys.path.insert(0, str(DAGS))
    return importlib.import_module("newspipe_consumer_example")


def backfill_runs(dag_id: str, from_date: str, to_date: str) -> tuple[int, list[str]]:
    """`airflow backfill create`: the backfill's id and the ids of the runs it made."""
    from airflow.models.backfill import Backfill
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    airflow_cli("backfill", "create", "--dag-id", dag_id, "--from-date", from_date,
                "--to-date", to_date)
    with create_session() as session:
        backfill_id = session.scalar(select(func.max(Backfill.id)).where(
            Backfill.dag_id == dag_id))
        return backfill_id, list(session.scalars(select(DagRun.run_id).where(
            DagRun.backfill_id == backfill_id)))


def complete_backfill(backfill_id: int) -> None:
    """What the scheduler does once a backfill's runs are done: there can be only one
    active backfill per DAG, and the session's tests share one metadata database."""
    from airflow.models.backfill import Backfill
    from airflow.sdk import timezone
    from airflow.utils.session import create_session

    with create_session() as session:
        session.execute(update(Backfill).where(Backfill.id == backfill_id)
                        .values(completed_at=timezone.utcnow()))


def set_fetch_times(store, times: dict[int, datetime]) -> None:
    with store.begin() as connection:
        for article_id, at in times.items():
            connection.execute(update(articles).where(articles.c.id == article_id)
                               .values(fetched_at=at))


def placements(store) -> dict[int, tuple[str, int | None]]:
    """Each article's status and story."""
    with store.connect() as connection:
        return {r.id: (r.status, r.cluster_id) for r in connection.execute(
            select(articles.c.id, articles.c.status, articles.c.cluster_id))}


def stories(placed: dict[int, tuple[str, int | None]]) -> list[list[int]]:
    """The articles of each story, whatever its id (a story left empty goes; placed again,
    its article starts a new one)."""
    members: dict[int, list[int]] = {}
    for article_id, (_, story) in sorted(placed.items()):
        members.setdefault(story, []).append(article_id)
    return sorted(members.values())


def test_dag_files_import_without_errors():
    bag = dag_bag()
    assert bag.import_errors == {}
    assert set(bag.dags) == DAG_IDS


def test_ingest_dag_is_wired_for_production():
    dag = dag_bag().dags["newspipe_ingest"]
    assert dag.max_active_runs == 1 and dag.catchup is False
    assert dag.timetable.expression == "*/15 * * * *"
    poll, fetch = dag.get_task("poll"), dag.get_task("fetch")
    assert poll.pool == fetch.pool == "newspipe_http"
    for task in dag.tasks:
        assert task.retries == 3 and task.retry_exponential_backoff
    assert [a.name for a in dag.get_task("publish").outlets] == ["newspipe_canonical_store"]
    backfill = dag_bag().dags["newspipe_backfill"]
    for publish in (dag.get_task("publish"), backfill.get_task("publish")):
        # Its own latest events say where the next range of changes starts.
        assert [a.name for a in publish.inlets] == ["newspipe_canonical_store"]
    consumer = dag_bag().dags["newspipe_consumer_example"]
    assert "newspipe_canonical_store" in str(consumer.timetable.asset_condition)


def test_batches_never_exceed_max_map_length(monkeypatch):
    sys.path.insert(0, str(DAGS))
    from newspipe_common import batches

    monkeypatch.setenv("AIRFLOW__CORE__MAX_MAP_LENGTH", "7")
    monkeypatch.setenv("NEWSPIPE_MAX_BATCHES", "100")
    ids = list(range(1000))
    split = batches(ids, per_batch=10)
    assert len(split) <= 7 and [i for b in split for i in b] == ids
    assert batches(list(range(5)), per_batch=2) == [[0, 1], [2, 3], [4]]
    assert batches([], per_batch=2) == []


def test_ingest_dag_runs_the_pipeline(airflow_db, newspipe_env, manifest):
    """The stages, the Asset event, no event when nothing changed; and no change left out of
    the events' ranges: those of an attempt that died before its event are in the next."""
    dag = dag_bag().dags["newspipe_ingest"]
    run = dag.test()
    assert run.state == "success"
    assert len(task_states(run)["poll"]) == 3, "6 feeds in batches of 2"
    store = open_store(newspipe_env, migrate=False)
    counts = summary(store)
    stories = len({p["story"] for p in manifest})
    assert counts["stories"] == stories
    assert counts["failed"] == 0
    seed = [r for r in canonical_records(store) if r["duplicates"]]
    assert len(seed) == 1
    (event,) = asset_events(run)
    assert event["new_stories"] == stories
    assert event["new_duplicates"] == len(manifest) - stories
    assert event["changes_to"] > event["changes_from"] == 0

    again = dag.test()
    assert again.state == "success"
    assert task_states(again)["publish"] == ["skipped"]  # nothing new: no event
    assert asset_events(again) == []

    # A publishing attempt that committed a batch of changes, then died: no event says so.
    with store.begin() as connection:
        ids = repo.insert_extracted_articles(connection, [{"key": "dead attempt", "text": (
            "Divers found cracks in the northern pier on Monday, and the harbour authority "
            "closed it for repairs until the end of the summer season, its chief said.")}])
    assert pipeline.deduplicate_articles(store, ids).new_stories == 1
    # Another store's event, behind the same Airflow (a store made anew, say): its range
    # ends far beyond this store's change ids, and must not count for this store.
    asset_event_by_hand({"store": "another store", "changes_from": 0, "changes_to": 10**6})
    next_run = dag.test()  # as a retry would: nothing left to place, but changes to announce
    (late,) = asset_events(next_run)
    assert late["store"] == event["store"] == store_id(store)
    assert late["changes_from"] == event["changes_to"]
    assert late["changes_to"] == latest_change_id(store) > event["changes_to"]
    store.dispose()


def test_backfill_dag_imports_a_warc_file(airflow_db, newspipe_env, seed_warc, manifest):
    dag = dag_bag().dags["newspipe_backfill"]
    run = dag.test(run_conf={"mode": "warc", "warc_paths": [str(seed_warc)]})
    assert run.state == "success"
    store = open_store(newspipe_env, migrate=False)
    records = list(canonical_records(store))
    assert len(records) == len({p["story"] for p in manifest})
    assert {r["source"] for r in records} == {"seed.example.org"}
    (event,) = asset_events(run)
    assert event["new_duplicates"] == len(manifest) - len(records)

    reprocess = dag.test(run_conf={"mode": "reprocess", "since": "2000-01-01",
                                   "until": "2100-01-01"})
    assert reprocess.state == "success"
    (event,) = asset_events(reprocess)  # stories were rebuilt: consumers hear of it
    assert event["new_stories"] == len(records)
    assert [r["duplicates"] for r in canonical_records(store)] == \
        [r["duplicates"] for r in records]
    store.dispose()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_backfill_dag_refuses_an_incomplete_request(airflow_db, newspipe_env):
    dag = dag_bag().dags["newspipe_backfill"]
    run = dag.test(run_conf={"mode": "warc"})
    assert run.state == "failed"
    assert task_states(run)["check_params"] == ["failed"]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_maintenance_dag_prunes_reports_and_tidies(airflow_db, newspipe_env, seed_server,
                                                   monkeypatch):
    from sqlalchemy import func

    from newspipe import pipeline
    from newspipe.store.schema import lsh_buckets

    store = open_store(newspipe_env)
    pipeline.run_cycle(store, seed_server.settings(database_url=newspipe_env))
    monkeypatch.setenv("NEWSPIPE_RETENTION_DAYS", "0")  # everything is outside the window
    run = dag_bag().dags["newspipe_maintenance"].test()
    assert run.state == "success"
    assert all(states == ["success"] for states in task_states(run).values())
    with store.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(lsh_buckets)) == 0
    assert summary(store)["stories"] == 4, "stories stay; only their index rows go"
    store.dispose()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_consumer_dag_exports_the_stories_its_asset_events_announce(
        airflow_db, newspipe_env, tmp_path, monkeypatch):
    """An ingest run's event, then one made by hand (no range: skipped), trigger a consumer
    run made as the scheduler makes it; its task, run by `airflow tasks test`, appends
    every story (the first event's range is the whole log) in the export format. Its
    helpers read the log and the stories a page at a time."""
    output = tmp_path / "consumer.jsonl"
    monkeypatch.setenv("NEWSPIPE_CONSUMER_OUTPUT", str(output))
    monkeypatch.setenv("AIRFLOW_TEST_MODE", "True")  # `tasks test` sets it, for good
    ingest = dag_bag().dags["newspipe_ingest"].test()
    events = asset_event_ids(ingest) + [asset_event_by_hand({})]
    run_id = asset_triggered_run("newspipe_consumer_example", events)
    state, result = run_task("newspipe_consumer_example", "export_changed_stories", run_id)
    assert state == "success"
    store = open_store(newspipe_env, migrate=False)
    export = [json.dumps(r, ensure_ascii=False) for r in canonical_records(store)]
    assert output.read_text(encoding="utf-8").splitlines() == export
    assert result == {"events": 2, "skipped": 1, "stories": len(export)}

    consumer, end = consumer_module(), latest_change_id(store)
    for start, stop in ((0, end), (end // 2, end - 1)):
        touched = {c["cluster_id"] for c in changes_since(store, start, limit=stop - start)}
        assert consumer.changed_story_ids(store, start, stop, per_page=2) == touched
    written = io.StringIO()
    assert consumer.export_stories(store, range(1, len(export) + 1), written, per_page=3) \
        == len(export)
    assert written.getvalue().splitlines() == export
    store.dispose()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_backfill_run_reprocesses_the_articles_fetched_in_its_data_interval(
        airflow_db, newspipe_env, seed_server, monkeypatch):
    """`airflow backfill create` makes a run of run type backfill per day of its range.
    Only the scheduler runs those (dag.test() makes manual runs, whose `check_params`
    insists on since/until), so the tasks that depend on the run type are run in that run
    with `airflow tasks test`: `requested` lets it through, `check_params` takes its data
    interval [day, day + 1) as the range, `reprocess` takes the articles fetched in it out
    of their stories and extracts them again, `publish` places them again. The others, one
    fetched at each end of the interval but outside it, are never touched."""
    monkeypatch.setenv("AIRFLOW_TEST_MODE", "True")  # `tasks test` sets it, for good
    store = open_store(newspipe_env)
    pipeline.run_cycle(store, seed_server.settings(database_url=newspipe_env))
    day, tick = datetime(2025, 3, 1, tzinfo=UTC), timedelta(microseconds=1)
    set_fetch_times(store, {1: day, 2: day + timedelta(days=1) - tick,
                            3: day + timedelta(days=1), 4: day - tick})
    before = placements(store)
    airflow_cli("dags", "reserialize")  # what the dag processor does
    backfill_id, (run_id,) = backfill_runs("newspipe_backfill", "2025-03-01", "2025-03-01")
    try:
        def run(task_id: str) -> object:
            state, result = run_task("newspipe_backfill", task_id, run_id)
            assert state == "success", task_id
            return result

        assert run("requested") is True
        assert run("check_params") == {"mode": "reprocess", "since": day.isoformat(),
                                       "until": (day + timedelta(days=1)).isoformat()}
        assert run("reprocess") == {"articles": 2, "extracted": 2}
        reprocessed = placements(store)
        assert reprocessed[1] == reprocessed[2] == ("extracted", None)
        assert {k: v for k, v in reprocessed.items() if k > 2} == \
            {k: v for k, v in before.items() if k > 2}
        run("publish")
        after = placements(store)
        assert stories(after) == stories(before)
        assert {status for status, _ in after.values()} == {"deduped"}
    finally:
        complete_backfill(backfill_id)
        store.dispose()
