"""Ingest runs that die half-way or overlap: real `dag.test()` processes on one store.

A run is a subprocess (as an Airflow worker is), killed with SIGKILL in the middle of its
fetch, extract or publish stage, then run again: the store must be an uninterrupted run's.
In fetch, the fixture server holds one article page back until the test lets it go; in
extract and publish (PostgreSQL), the test holds a lock the stage waits for (see
StoreLocks)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path

import pytest
from sqlalchemy import Connection, func, select, text

from newspipe import pipeline
from newspipe.demo import FixtureServer, seeds_dir
from newspipe.store import Store, open_store
from newspipe.store.read import canonical_records
from newspipe.store.schema import articles, changes, clusters, entries, lsh_buckets

pytest.importorskip("airflow")

DAGS = Path(__file__).resolve().parents[1] / "dags"
INGEST = f"""
import sys
from pathlib import Path
from airflow.dag_processing.dagbag import BundleDagBag

dags = Path({str(DAGS)!r})
run = BundleDagBag(dag_folder=str(dags), bundle_path=dags).dags["newspipe_ingest"].test()
sys.exit(0 if run.state == "success" else 1)
"""


class HeldBackServer(FixtureServer):
    """The seed fixture; requests for paths containing `hold` wait until `release` is set
    (`reached` says one arrived), and every article page is `delay` seconds slow."""

    def __init__(self, hold: str | None = None, delay: float = 0.0):
        super().__init__()
        self.reached, self.release = threading.Event(), threading.Event()
        server, base = self, self.httpd.RequestHandlerClass

        class Handler(base.func):
            def do_GET(self):
                if hold and hold in self.path and not server.release.is_set():
                    server.reached.set()
                    server.release.wait(120)
                if self.path.endswith(".html"):
                    time.sleep(delay)
                super().do_GET()

        self.httpd.RequestHandlerClass = partial(Handler, **base.keywords)

    def __exit__(self, *exc) -> None:
        self.release.set()
        super().__exit__(*exc)


def ingest_process(server: FixtureServer, store_url: str, tmp_path: Path,
                   airflow_home: Path, **settings: str) -> subprocess.Popen:
    """An ingest run in its own process group (its extraction workers die with it);
    `settings`: more NEWSPIPE_* variables."""
    feeds = (seeds_dir() / "feeds.toml").read_text().replace("{{base}}", server.base_url)
    config = tmp_path / "feeds.toml"
    config.write_text('[newspipe]\nallow_private_hosts = ["127.0.0.1"]\n\n' + feeds)
    env = {**os.environ, "AIRFLOW_HOME": str(airflow_home), "NEWSPIPE_CONFIG": str(config),
           "AIRFLOW_CONN_NEWSPIPE_STORE": store_url, "NEWSPIPE_TASK_RETRIES": "0",
           **{f"NEWSPIPE_{name.upper()}": value for name, value in settings.items()}}
    env.pop("NEWSPIPE_DATABASE_URL", None)
    # Its log goes to a file: a pipe nobody reads while the run goes on would block the run
    # once it filled up (Airflow logs every task).
    log = Path(tempfile.mkstemp(prefix="ingest-", suffix=".log", dir=tmp_path)[1])
    with log.open("w") as stderr:
        run = subprocess.Popen([sys.executable, "-c", INGEST], env=env, start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=stderr)
    run.log = log  # type: ignore[attr-defined]
    return run


def log_tail(run: subprocess.Popen) -> str:
    return run.log.read_text(errors="replace")[-3000:]  # type: ignore[attr-defined]


def kill(run: subprocess.Popen) -> None:
    """SIGKILL the run and the processes it started, as when a worker's machine dies."""
    os.killpg(run.pid, signal.SIGKILL)
    run.wait(30)


def run_again_equals_uninterrupted(server: FixtureServer, url: str, second_url: str,
                                   tmp_path: Path, airflow_home: Path) -> None:
    """A second run on the killed run's store finishes it: as if nothing had happened."""
    again = ingest_process(server, url, tmp_path, airflow_home)
    assert again.wait(300) == 0, log_tail(again)
    assert store_contents(url) == uninterrupted_store(server, second_url)


def private_airflow_home(airflow_db: Path, tmp_path: Path, name: str) -> Path:
    """A copy of the migrated metadata database: concurrent runs each get their own SQLite
    file (in production they share PostgreSQL)."""
    home = tmp_path / name
    home.mkdir()
    shutil.copy(airflow_db / "airflow.db", home / "airflow.db")
    return home


def store_contents(url: str) -> dict:
    """Everything a run writes, keyed by URLs rather than ids or times: concurrent fetches
    may number articles in another order, and the change log follows that order, so only
    its story count is compared."""
    store = open_store(url, migrate=False)
    with store.connect() as connection:
        url_of = dict(connection.execute(select(articles.c.id, articles.c.url)).all())
        story_of = dict(connection.execute(select(articles.c.id, articles.c.cluster_id)).all())
        members: dict[int, list[str]] = {}
        for row in connection.execute(select(articles.c.cluster_id, articles.c.url)):
            members.setdefault(row.cluster_id, []).append(row.url)
        contents = {
            "entries": sorted((r.feed_id, r.key, url_of.get(r.article_id)) for r in
                              connection.execute(select(entries))),
            "articles": sorted((r.url, r.status, r.error, r.similarity, r.text_hash,
                                sorted(members.get(r.cluster_id, [])) if r.cluster_id else None)
                               for r in connection.execute(select(articles))),
            "stories": sorted((url_of[r.canonical_article_id], r.size, sorted(members[r.id]))
                              for r in connection.execute(select(clusters))),
            # The index holds a row per story and bucket, owned by the story's latest
            # member with it: which one that is follows the numbering too.
            "lsh": sorted((r.bucket, sorted(members[story_of[r.article_id]])) for r in
                          connection.execute(select(lsh_buckets))),
            "stories created": Counter(connection.scalars(select(changes.c.kind)))[
                "story_created"],
        }
    store.dispose()
    return contents


def uninterrupted_store(server: FixtureServer, url: str) -> dict:
    """The same feeds through one clean pass of the same stage functions."""
    store = open_store(url)
    pipeline.run_cycle(store, server.settings(database_url=url))
    store.dispose()
    return store_contents(url)


def statuses(contents: dict) -> Counter:
    """How many articles are in each status, in store_contents()."""
    return Counter(status for _, status, *_ in contents["articles"])


def wait_for_articles(url: str, count: int = 1, timeout: float = 60) -> bool:
    """Until the run has stored `count` articles (other pages go on while one is held
    back)."""
    store = open_store(url, migrate=False)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            with store.connect() as connection:
                if connection.scalar(select(func.count()).select_from(articles)) >= count:
                    return True
            time.sleep(0.1)
        return False
    finally:
        store.dispose()


class StoreLocks:
    """Locks the test holds on a PostgreSQL store, each in a transaction of its own
    connection, so that a run waits where it needs one of them: a deterministic point to
    kill it at. `wait_until_blocking` says which of them a run waits for
    (pg_blocking_pids); releasing those lets it through to its next wait."""

    def __init__(self, url: str):
        self.store = Store(url)  # the schema may not be there yet: the run makes it
        self.held: dict[int, Connection] = {}  # backend pid -> its open transaction

    def __enter__(self) -> StoreLocks:
        return self

    def __exit__(self, *exc) -> None:
        self.release(list(self.held))
        self.store.dispose()

    def hold(self, take: Callable[[Connection], object]) -> int:
        """Take a lock with `take` in a new transaction, kept open; its backend's pid."""
        connection = self.store.engine.connect()
        take(connection)
        pid = connection.scalar(text("SELECT pg_backend_pid()"))
        self.held[pid] = connection
        return pid

    def hold_article_row(self, article_id: int) -> int:
        # FOR NO KEY UPDATE: what saving the article's text waits for, while foreign-key
        # checks on it (entries linked to it) go on.
        return self.hold(lambda connection: connection.execute(
            select(articles.c.id).where(articles.c.id == article_id)
            .with_for_update(key_share=True)))

    def blocking(self) -> set[int]:
        """The pids of our transactions some other backend waits for."""
        with self.store.connect() as connection:
            waited_for = set(connection.scalars(text(
                "SELECT unnest(pg_blocking_pids(pid)) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'")))
        return waited_for & set(self.held)

    def wait_until_blocking(self, timeout: float = 120) -> set[int]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if pids := self.blocking():
                return pids
            time.sleep(0.05)
        raise AssertionError(f"no run waited for the test's locks within {timeout} s")

    def release(self, pids: Iterable[int]) -> None:
        for pid in pids:
            connection = self.held.pop(pid)
            connection.rollback()
            connection.close()


def article_ids(url: str) -> list[int]:
    store = open_store(url, migrate=False)
    with store.connect() as connection:
        ids = list(connection.scalars(select(articles.c.id)))
    store.dispose()
    return ids


@pytest.fixture
def second_url(request, database_url, tmp_path):
    """Another empty store on the same backend."""
    if database_url.startswith("sqlite"):
        return f"sqlite:///{tmp_path / 'clean.db'}"
    return request.getfixturevalue("pg_url")


def test_a_run_killed_in_its_fetch_stage_then_run_again_equals_an_uninterrupted_run(
        airflow_db, database_url, second_url, tmp_path):
    with HeldBackServer(hold="wirewatch/stories") as server:
        killed = ingest_process(server, database_url, tmp_path, airflow_db)
        assert server.reached.wait(120), "the run never reached the held-back page"
        assert wait_for_articles(database_url), "no other page was stored meanwhile"
        kill(killed)
        server.release.set()
        half_way = store_contents(database_url)
        assert 0 < len(half_way["articles"]) < len(half_way["entries"])
        assert half_way["stories"] == []
        run_again_equals_uninterrupted(server, database_url, second_url, tmp_path, airflow_db)


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_run_killed_in_its_extract_stage_then_run_again_equals_an_uninterrupted_run(
        airflow_db, database_url, second_url, tmp_path, manifest):
    """Held inside extract by row locks. The fixture server holds one page back, so fetch
    cannot finish while the test locks the rows of the other pages' articles (one
    transaction each); then the page goes. Extraction saves its outcomes under FOR UPDATE
    of the same rows (repo.save_extractions), so the first extract task to save a locked
    article waits. The test lets each such wait through (releasing the lock it is on) until
    one extract task has committed its texts, and kills the run at its next wait: in the
    other extract task (4 articles a task, 8 in all), with some articles extracted and
    the others still fetched."""
    with HeldBackServer(hold="wirewatch/stories") as server:
        with StoreLocks(database_url) as locks:
            killed = ingest_process(server, database_url, tmp_path, airflow_db,
                                    articles_per_batch="4")
            assert server.reached.wait(120), "the run never reached the held-back page"
            assert wait_for_articles(database_url, len(manifest) - 1), "pages not stored"
            for article_id in article_ids(database_url):
                locks.hold_article_row(article_id)
            server.release.set()
            waits = locks.wait_until_blocking()
            while not statuses(store_contents(database_url))["extracted"]:
                locks.release(waits)
                waits = locks.wait_until_blocking()
            kill(killed)
        half_way = store_contents(database_url)
        assert statuses(half_way)["extracted"] and statuses(half_way)["fetched"]
        assert half_way["stories"] == []
        run_again_equals_uninterrupted(server, database_url, second_url, tmp_path, airflow_db)


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_run_killed_in_its_publish_stage_then_run_again_equals_an_uninterrupted_run(
        airflow_db, database_url, second_url, tmp_path, manifest):
    """Held inside publish by the cluster-assignment lock: the dedup stage places each
    batch of articles under a PostgreSQL advisory lock (pipeline._lock_cluster_assignment),
    which the test takes first, from its own connection. The run polls, fetches and
    extracts everything, waits for the lock in publish and is killed there. The seed's 8
    articles are one dedup batch (one transaction), so nothing of publish is committed:
    every article is left extracted, for the next run's publish to place (not only what
    its own extract tasks returned, which is nothing)."""
    with FixtureServer() as server:
        with StoreLocks(database_url) as locks:
            locks.hold(partial(pipeline._lock_cluster_assignment, locks.store))
            killed = ingest_process(server, database_url, tmp_path, airflow_db)
            locks.wait_until_blocking(timeout=300)
            kill(killed)
        half_way = store_contents(database_url)
        assert statuses(half_way) == {"extracted": len(manifest)}
        assert half_way["stories"] == []
        run_again_equals_uninterrupted(server, database_url, second_url, tmp_path, airflow_db)


# SQLite serialises writers outright; PostgreSQL is where two runs really interleave.
@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_overlapping_runs_create_no_duplicate_story(airflow_db, database_url, second_url,
                                                    tmp_path):
    with HeldBackServer(delay=0.2) as server:
        runs = [ingest_process(server, database_url, tmp_path / str(n),
                               private_airflow_home(airflow_db, tmp_path, f"airflow{n}"))
                for n in (1, 2) if (tmp_path / str(n)).mkdir() is None]
        for run in runs:
            assert run.wait(300) == 0, log_tail(run)
        expected = uninterrupted_store(server, second_url)

    def stories(url):
        return sorted((r["url"], sorted(d["url"] for d in r["duplicates"]))
                      for r in canonical_records(open_store(url, migrate=False)))

    assert stories(database_url) == stories(second_url)
    store = open_store(database_url, migrate=False)
    with store.connect() as connection:
        created = Counter(connection.scalars(select(changes.c.kind)))["story_created"]
        sizes = dict(connection.execute(select(articles.c.cluster_id, func.count())
                                        .group_by(articles.c.cluster_id)).all())
        assert created == len(expected["stories"])
        assert {c.id: c.size for c in connection.execute(select(clusters))} == sizes
        assert connection.scalar(select(func.count()).select_from(articles)) == \
            len(expected["articles"])
    store.dispose()
