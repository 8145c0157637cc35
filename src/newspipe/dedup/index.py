"""The persistent LSH index: band buckets in the `lsh_buckets` table, looked up by an
indexed query, written in the caller's transaction together with the articles."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Connection,
    Text,
    bindparam,
    cast,
    delete,
    func,
    insert,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY

from newspipe.store.schema import lsh_buckets, utcnow

# Bound parameters per statement: SQLite allows 32766.
CHUNK = 5000


def chunks(values: Sequence, size: int = CHUNK) -> Iterator[Sequence]:
    for start in range(0, len(values), size):
        yield values[start:start + size]


def matching(connection: Connection, column, values: Sequence[int | str]) -> ColumnElement[bool]:
    """`column IN values` for a long list. On PostgreSQL the values are one array joined
    as a table: a long IN list costs more to send and parse than the lookup, and
    `= ANY(array)` is checked element by element against every row whenever the planner,
    short of statistics, scans the table."""
    if connection.dialect.name != "postgresql":
        return column.in_(values)
    wanted = select(func.unnest(array_param(values, column.type)).label("value")).subquery()
    return column == wanted.c.value


def array_param(values: Sequence[int | str], element_type=BigInteger) -> ColumnElement:
    """An array parameter sent as one literal: the driver would dump it element by element
    in Python, the hot spot of a batch."""
    literal = "{" + ",".join(
        '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' if isinstance(v, str)
        else str(v) for v in values) + "}"
    return cast(bindparam(None, literal, type_=Text), ARRAY(element_type))


def lookup(connection: Connection, buckets: Iterable[int],
           exclude: Sequence[int] = ()) -> Iterator[tuple[int, int]]:
    """(bucket, article id) of indexed articles in any of `buckets` (primary key lookups),
    except articles in `exclude`."""
    excluded = set(exclude)
    for chunk in chunks(sorted(set(buckets))):
        rows = connection.execute(select(lsh_buckets.c.bucket, lsh_buckets.c.article_id)
                                  .where(matching(connection, lsh_buckets.c.bucket, chunk))).all()
        yield from ((b, a) for b, a in rows if a not in excluded)


def add(connection: Connection, indexed: Sequence[tuple[int, list[int]]]) -> None:
    """Index articles: (article id, buckets). Idempotent: old buckets are replaced."""
    remove(connection, [article_id for article_id, _ in indexed])
    rows = [(bucket, article_id) for article_id, buckets in indexed
            for bucket in sorted(set(buckets))]
    if not rows:
        return
    now = utcnow()
    if connection.dialect.name == "postgresql":
        # One statement with two arrays rather than a round trip per row.
        buckets, ids = zip(*rows, strict=True)
        connection.execute(insert(lsh_buckets).from_select(
            ["bucket", "article_id", "indexed_at"],
            select(func.unnest(array_param(buckets)), func.unnest(array_param(ids)),
                   bindparam("at", now, type_=lsh_buckets.c.indexed_at.type))))
        return
    connection.execute(insert(lsh_buckets), [
        {"bucket": bucket, "article_id": article_id, "indexed_at": now}
        for bucket, article_id in rows])


def remove(connection: Connection, article_ids: Sequence[int]) -> None:
    for chunk in chunks(list(article_ids)):
        connection.execute(delete(lsh_buckets).where(
            matching(connection, lsh_buckets.c.article_id, chunk)))


def prune(connection: Connection, older_than: datetime) -> int:
    """Drop index entries older than the retention window; returns rows removed."""
    result = connection.execute(delete(lsh_buckets).where(lsh_buckets.c.indexed_at < older_than))
    return result.rowcount or 0
