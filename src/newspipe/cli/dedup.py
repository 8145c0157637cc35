"""`newspipe dedup`: the de-duplication engine and store on a corpus of texts."""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from newspipe.cli import DbOption, UserError, app, console, progress_reporter, settings_for
from newspipe.dates import parse_utc


def read_corpus(path: Path) -> list[dict]:
    """Rows of a JSON Lines corpus: `id` (unique) and `text` required; `title`, `url`,
    `source`, `role`, `published_at` (ISO 8601) optional."""
    rows, line_of = [], {}
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if line.strip():
                row = _corpus_row(line, f"{path}:{number}")
                if row["key"] in line_of:  # its text would silently be the first one's
                    raise UserError(f"{path}:{number}: id {row['key']!r} repeats line "
                                    f"{line_of[row['key']]}")
                line_of[row["key"]] = number
                rows.append(row)
    return rows


def _corpus_row(line: str, where: str) -> dict:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        raise UserError(f"{where}: not JSON ({exc.msg})") from None
    if not isinstance(row, dict) or "id" not in row or not isinstance(row.get("text"), str):
        raise UserError(f"{where}: a row needs an 'id' and a string 'text'")
    return {"key": str(row["id"]), "text": row["text"], "title": row.get("title"),
            "url": row.get("url"), "source": row.get("source"), "role": row.get("role"),
            "published_at": _published_at(row.get("published_at"), where)}


def _published_at(value: object, where: str) -> datetime | None:
    if value in (None, ""):
        return None
    parsed = parse_utc(str(value))
    if parsed is None:
        raise UserError(f"{where}: published_at {value!r} is not ISO 8601")
    return parsed


def cluster_rows(store, keys: list[str], ids: list[int]) -> Iterator[dict]:
    """Output rows in input order: id, cluster, canonical, similarity (and `error`, with
    a null cluster, for a text that could not be placed)."""
    from sqlalchemy import select

    from newspipe.store.schema import articles, clusters

    with store.connect() as connection:
        placed = {r.id: r for r in connection.execute(
            select(articles.c.id, articles.c.cluster_id, articles.c.similarity,
                   articles.c.error, clusters.c.canonical_article_id)
            .outerjoin(clusters, clusters.c.id == articles.c.cluster_id)
            .where(articles.c.id.in_(ids)))}
    for key, article_id in zip(keys, ids, strict=True):
        row = placed[article_id]
        record = {"id": key, "cluster": row.cluster_id,
                  "canonical": row.canonical_article_id == article_id,
                  "similarity": None if row.cluster_id is None else round(row.similarity, 4)}
        yield record if row.cluster_id is not None else {**record, "error": row.error}


@app.command()
def dedup(
    input_file: Annotated[Path, typer.Argument(metavar="INPUT.jsonl",
                                               help="One JSON object per line: id, text, ...")],
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="File to write (default: stdout).")] = None,
    threshold: Annotated[float | None, typer.Option(
        "--threshold", min=0.0, max=1.0,
        help="Jaccard similarity that merges two texts (default 0.5; a shorter text "
             "largely contained in a longer one merges at dedup_containment_threshold, "
             "0.7, whatever this says).")] = None,
    db: DbOption = None,
) -> None:
    """Group a corpus into stories with the pipeline's own engine and store (a temporary
    SQLite store unless --db is given)."""
    from newspipe import pipeline
    from newspipe.store import open_store, repo

    settings = settings_for(None, db)
    if threshold is not None:
        settings = replace(settings, dedup_jaccard_threshold=threshold)
    rows = read_corpus(input_file)
    with tempfile.TemporaryDirectory(prefix="newspipe-dedup-") as tmp:
        store = open_store(db or f"sqlite:///{Path(tmp) / 'dedup.db'}")
        try:
            with store.begin() as connection:
                ids = repo.insert_extracted_articles(connection, rows)
            with progress_reporter() as report:
                pipeline.deduplicate_articles(store, ids, pipeline.deduplicator_for(settings),
                                              report=report)
            _write(cluster_rows(store, [r["key"] for r in rows], ids), output)
        finally:
            store.dispose()
    console.print(f"{len(rows)} texts de-duplicated")


def _write(records: Iterator[dict], output: Path | None) -> None:
    stream = output.open("w", encoding="utf-8") if output else sys.stdout
    try:
        for record in records:
            stream.write(json.dumps(record, ensure_ascii=False) + "\n")
    finally:
        if output:
            stream.close()
