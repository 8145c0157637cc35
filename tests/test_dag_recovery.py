"""Ingest runs that die half-way or overlap: real `dag.test()` processes on one store.

A run is a subprocess (as an Airflow worker is), killed with SIGKILL in the middle of its
fetch stage; the fixture server holds one article page back until the test lets it go."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from functools import partial
from pathlib import Path

import pytest
from sqlalchemy import func, select

from newspipe import pipeline
from newspipe.demo import FixtureServer, seeds_dir
from newspipe.store import open_store
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
                   airflow_home: Path) -> subprocess.Popen:
    feeds = (seeds_dir() / "feeds.toml").read_text().replace("{{base}}", server.base_url)
    config = tmp_path / "feeds.toml"
    config.write_text('[newspipe]\nallow_private_hosts = ["127.0.0.1"]\n\n' + feeds)
    env = {**os.environ, "AIRFLOW_HOME": str(airflow_home), "NEWSPIPE_CONFIG": str(config),
           "AIRFLOW_CONN_NEWSPIPE_STORE": store_url, "NEWSPIPE_TASK_RETRIES": "0"}
    env.pop("NEWSPIPE_DATABASE_URL", None)
    return subprocess.Popen([sys.executable, "-c", INGEST], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


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


def wait_for_articles(url: str, timeout: float = 60) -> bool:
    """Until the run has stored an article (other pages go on while one is held back)."""
    store = open_store(url, migrate=False)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            with store.connect() as connection:
                if connection.scalar(select(func.count()).select_from(articles)):
                    return True
            time.sleep(0.1)
        return False
    finally:
        store.dispose()


@pytest.fixture
def second_url(request, database_url, tmp_path):
    """Another empty store on the same backend."""
    if database_url.startswith("sqlite"):
        return f"sqlite:///{tmp_path / 'clean.db'}"
    return request.getfixturevalue("pg_url")


def test_a_run_killed_half_way_then_run_again_equals_an_uninterrupted_run(
        airflow_db, database_url, second_url, tmp_path):
    with HeldBackServer(hold="wirewatch/stories") as server:
        killed = ingest_process(server, database_url, tmp_path, airflow_db)
        assert server.reached.wait(120), "the run never reached the held-back page"
        assert wait_for_articles(database_url), "no other page was stored meanwhile"
        killed.send_signal(signal.SIGKILL)
        killed.wait(30)
        server.release.set()
        half_way = store_contents(database_url)
        assert 0 < len(half_way["articles"]) < len(half_way["entries"])
        assert half_way["stories"] == []

        again = ingest_process(server, database_url, tmp_path, airflow_db)
        assert again.wait(300) == 0, again.stderr.read()[-3000:]
        assert store_contents(database_url) == uninterrupted_store(server, second_url)


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
            assert run.wait(300) == 0, run.stderr.read()[-3000:]
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
