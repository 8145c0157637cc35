"""The command line as users run it: a real process, real exit codes, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from newspipe.store.read import RECORD_FIELDS

NEWSPIPE = [sys.executable, "-c", "from newspipe.workers import main; main()"]


def newspipe(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    environment = {**os.environ, **(env or {})}
    environment.pop("NEWSPIPE_DATABASE_URL", None)
    return subprocess.run([*NEWSPIPE, *args], cwd=cwd, capture_output=True, text=True,
                          env=environment, timeout=300)


def test_demo_then_export_gives_the_contract(tmp_path):
    demo = newspipe("demo", cwd=tmp_path)
    assert demo.returncode == 0, demo.stderr
    assert (tmp_path / "newspipe.db").is_file()
    assert "canonical records" in demo.stdout and "duplicates" in demo.stdout

    exported = newspipe("export", "--output", "stories.jsonl", cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr
    records = [json.loads(line) for line in (tmp_path / "stories.jsonl").read_text().splitlines()]
    assert records and all(tuple(r) == RECORD_FIELDS for r in records)
    seed = [r for r in records if r["duplicates"]]
    assert len(seed) == 1
    assert seed[0]["published_at"].endswith("Z")
    assert {"id", "url", "source", "similarity"} == set(seed[0]["duplicates"][0])

    to_stdout = newspipe("export", cwd=tmp_path)
    assert [json.loads(line) for line in to_stdout.stdout.splitlines()] == records


def test_demo_twice_over_one_store_changes_nothing(tmp_path):
    first = newspipe("demo", "--port", "0", "--db", "sqlite:///a.db", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    port = first.stderr.split("127.0.0.1:")[1].split(",")[0]
    again = newspipe("demo", "--port", port, "--db", "sqlite:///a.db", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "taken" not in first.stderr + again.stderr
    summary_table = first.stdout.split("canonical records")[0]
    assert again.stdout.split("canonical records")[0] == summary_table


@pytest.mark.parametrize("args, message", [
    (("run", "--config", "missing.toml"), "config file not found"),
    (("export", "--db", "postgresql://postgres@127.0.0.1:1/x"), "Connection refused"),
    (("export", "--db", "sqlite:///empty.db"), "newspipe db upgrade"),
    (("run", "--config", "bad.toml"), "not valid TOML"),
    (("run", "--config", "nofeeds.toml"), "lists no [[feeds]]"),
])
def test_errors_are_one_line_and_nonzero(tmp_path, args, message):
    (tmp_path / "bad.toml").write_text("[[feeds]\nurl=")
    (tmp_path / "nofeeds.toml").write_text("[newspipe]\ntimeout_seconds = 5\n")
    result = newspipe(*args, cwd=tmp_path)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_run_with_a_config_file(tmp_path, seed_server):
    from newspipe.demo import seeds_dir

    feeds = (seeds_dir() / "feeds.toml").read_text().replace("{{base}}", seed_server.base_url)
    (tmp_path / "feeds.toml").write_text(
        '[newspipe]\nallow_private_hosts = ["127.0.0.1"]\n\n' + feeds)
    result = newspipe("run", "--config", "feeds.toml", "--db", "sqlite:///run.db", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "0 failed" in result.stderr


def test_the_command_line_loads_without_the_pipeline(tmp_path):
    """`newspipe --help` and argument errors answer at once: the pipeline, the store and
    the extraction stack (~3 s of imports) load only when a command runs."""
    heavy = ["newspipe.pipeline", "newspipe.store", "sqlalchemy", "trafilatura", "datasketch"]
    check = ("import sys, newspipe.cli; "
             f"print([m for m in {heavy!r} if m in sys.modules])")
    loaded = subprocess.run([sys.executable, "-c", check], cwd=tmp_path, capture_output=True,
                            text=True, timeout=60)
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.strip() == "[]"
    helped = newspipe("--help", cwd=tmp_path)
    assert helped.returncode == 0 and "backfill" in helped.stdout
