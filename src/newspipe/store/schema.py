"""Tables of the canonical store. Alembic migrations in `migrations/` create exactly these."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import TypeDecorator

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps no zone of its own)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: newspipe stores UTC-aware times only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


feeds = Table(
    "feeds",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("url", String(2048), nullable=False, unique=True),
    Column("name", String(512), nullable=False),
    Column("role", String(16), nullable=False, default="outlet"),
    Column("title", Text),
    Column("etag", String(1024)),
    Column("last_modified", String(128)),
    Column("content_hash", String(64)),
    Column("last_status", Integer),
    Column("last_error", Text),
    Column("consecutive_failures", Integer, nullable=False, default=0),
    Column("last_polled_at", UTCDateTime),
    Column("next_poll_at", UTCDateTime),
    Column("paused_reason", Text),
    Column("created_at", UTCDateTime, nullable=False, default=utcnow),
)

entries = Table(
    "entries",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("feed_id", Integer, ForeignKey("feeds.id", ondelete="CASCADE"), nullable=False),
    Column("key", String(2048), nullable=False),
    Column("url", String(2048), nullable=False),
    Column("canonical_url", String(2048), nullable=False),
    Column("title", Text),
    Column("summary", Text),
    Column("author", Text),
    Column("published_at", UTCDateTime),
    Column("image", Text),
    Column("first_seen_at", UTCDateTime, nullable=False, default=utcnow),
    Column("article_id", Integer, ForeignKey("articles.id", ondelete="SET NULL"), index=True),
    UniqueConstraint("feed_id", "key"),
)

# Article lifecycle: fetched -> extracted -> deduped; `failed` with `error` at any step.
articles = Table(
    "articles",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("url", String(2048), nullable=False),
    Column("canonical_url", String(2048), nullable=False, unique=True),
    Column("feed_id", Integer, ForeignKey("feeds.id", ondelete="SET NULL")),
    Column("source", String(512)),
    Column("role", String(16), nullable=False, default="outlet"),
    Column("status", String(16), nullable=False, index=True),
    Column("error", Text),
    Column("http_status", Integer),
    Column("fetched_at", UTCDateTime),
    # The raw page lives in the WARC archive (fetch/archive.py): the response record at
    # this file and offset, so the article can be re-extracted without fetching it again.
    Column("final_url", String(2048)),
    Column("content_type", String(255)),
    Column("charset", String(64)),
    Column("warc_file", String(1024)),
    Column("warc_offset", BigInteger),
    Column("title", Text),
    Column("author", Text),
    Column("published_at", UTCDateTime),
    Column("language", String(16)),
    Column("sitename", Text),
    Column("description", Text),
    Column("image", Text),
    Column("modified_at", UTCDateTime),  # the page's own last-modified date
    Column("text", Text),
    # Learned per-site boilerplate lines removed from `text`, normalised, one per line:
    # learning sees them again (extract/cleanup.py), so it does not forget them.
    Column("boilerplate_removed", Text),
    Column("text_hash", String(64), index=True),
    Column("minhash", LargeBinary),
    Column("shingle_count", Integer),
    Column("cluster_id", Integer, ForeignKey("clusters.id", use_alter=True), index=True),
    Column("similarity", Float),
    Column("first_seen_at", UTCDateTime, nullable=False, default=utcnow),
    Column("updated_at", UTCDateTime, nullable=False, default=utcnow),
)

clusters = Table(
    "clusters",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("canonical_article_id", Integer, ForeignKey("articles.id"), nullable=False),
    Column("size", Integer, nullable=False, default=1),
    Column("created_at", UTCDateTime, nullable=False, default=utcnow),
    Column("updated_at", UTCDateTime, nullable=False, default=utcnow),
)

# The persistent LSH index: one row per (band bucket, article). `bucket` folds the band
# number into a signed 64-bit hash of the band's hash values, so one indexed column answers
# a lookup. Each article writes ~49 rows, so the table is kept lean (migration 0002): no
# foreign key to articles (its per-row check doubled PostgreSQL's cost of an insert; index
# rows are written and removed only with their articles, and a lookup keeps only ids found
# in `articles`), and a BRIN index on PostgreSQL for the retention prune (rows arrive in
# time order). On PostgreSQL it is UNLOGGED (migration 0003): derived data, rebuilt from
# the stored texts after a crash empties it (see `lsh_index_state`).
lsh_buckets = Table(
    "lsh_buckets",
    metadata,
    Column("bucket", BigInteger, primary_key=True, autoincrement=False),
    Column("article_id", Integer, primary_key=True, autoincrement=False),
    Column("indexed_at", UTCDateTime, nullable=False, default=utcnow),
    Index("ix_lsh_buckets_article_id", "article_id"),
    Index("ix_lsh_buckets_indexed_at", "indexed_at", postgresql_using="brin"),
)

# One row while the LSH index is complete. On PostgreSQL both index tables are UNLOGGED:
# they write no WAL (the random inserts into a large index otherwise write a full page
# image per page touched after each checkpoint), and crash recovery (or a standby's
# promotion) empties them together. A missing row tells the dedup stage to rebuild the
# index first (pipeline.restore_index).
lsh_index_state = Table(
    "lsh_index_state",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("complete_since", UTCDateTime, nullable=False, default=utcnow),
)

# One row: this store's identity, drawn when its schema is made (migration 0006). Asset
# events carry it, so that a publisher never takes the ranges announced for another store
# (one made anew behind the same Airflow, say) for its own.
store_identity = Table(
    "store_identity",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("store_id", String(36), nullable=False),
    Column("created_at", UTCDateTime, nullable=False, default=utcnow),
)

# Append-only change log: its id is the cursor consumers resume from. `cluster_id` has no
# foreign key on purpose: a story removed by a backfill keeps its history and its
# `story_removed` entry.
changes = Table(
    "changes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("cluster_id", Integer, nullable=False),
    Column("article_id", Integer, ForeignKey("articles.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("at", UTCDateTime, nullable=False, default=utcnow),
    # A cursor must never go back: SQLite would otherwise reuse the ids of deleted rows.
    sqlite_autoincrement=True,
)

# robots.txt of each site, kept between stage runs so a site is not asked again before it
# expires (fetch/robots.py). Only answers are kept: an unreachable robots.txt is retried.
robots_txt = Table(
    "robots_txt",
    metadata,
    Column("url", String(2048), primary_key=True),
    Column("status", Integer, nullable=False),
    Column("body", Text, nullable=False),
    Column("fetched_at", UTCDateTime, nullable=False, default=utcnow),
    Column("expires_at", UTCDateTime, nullable=False),
)
