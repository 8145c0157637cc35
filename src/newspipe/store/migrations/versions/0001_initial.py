"""Initial schema: feeds, entries, articles, clusters, LSH buckets, changes, view, robots.txt.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)

CANONICAL_ARTICLES_VIEW = """
CREATE VIEW canonical_articles AS
SELECT a.id, c.id AS cluster_id, a.url, a.canonical_url, a.source, a.title, a.author,
       a.published_at, a.language, a.text, c.size AS story_size,
       c.created_at AS first_seen_at, c.updated_at
FROM clusters c JOIN articles a ON a.id = c.canonical_article_id
"""


def upgrade() -> None:
    op.create_table(
        "feeds",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("url", sa.String(2048), nullable=False),
        sa.Column("name", sa.String(512), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("title", sa.Text),
        sa.Column("etag", sa.String(1024)),
        sa.Column("last_modified", sa.String(128)),
        sa.Column("content_hash", sa.String(64)),
        sa.Column("last_status", sa.Integer),
        sa.Column("last_error", sa.Text),
        sa.Column("consecutive_failures", sa.Integer, nullable=False),
        sa.Column("last_polled_at", TZ),
        sa.Column("next_poll_at", TZ),
        sa.Column("paused_reason", sa.Text),
        sa.Column("created_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_feeds"),
        sa.UniqueConstraint("url", name="uq_feeds_url"),
    )
    op.create_table(
        "articles",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("url", sa.String(2048), nullable=False),
        sa.Column("canonical_url", sa.String(2048), nullable=False),
        sa.Column("feed_id", sa.Integer),
        sa.Column("source", sa.String(512)),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("http_status", sa.Integer),
        sa.Column("fetched_at", TZ),
        sa.Column("final_url", sa.String(2048)),
        sa.Column("content_type", sa.String(255)),
        sa.Column("charset", sa.String(64)),
        sa.Column("warc_file", sa.String(1024)),
        sa.Column("warc_offset", sa.BigInteger),
        sa.Column("title", sa.Text),
        sa.Column("author", sa.Text),
        sa.Column("published_at", TZ),
        sa.Column("language", sa.String(16)),
        sa.Column("sitename", sa.Text),
        sa.Column("description", sa.Text),
        sa.Column("image", sa.Text),
        sa.Column("modified_at", TZ),
        sa.Column("text", sa.Text),
        sa.Column("text_hash", sa.String(64)),
        sa.Column("minhash", sa.LargeBinary),
        sa.Column("shingle_count", sa.Integer),
        sa.Column("cluster_id", sa.Integer),
        sa.Column("similarity", sa.Float),
        sa.Column("first_seen_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_articles"),
        sa.UniqueConstraint("canonical_url", name="uq_articles_canonical_url"),
        sa.ForeignKeyConstraint(["feed_id"], ["feeds.id"], name="fk_articles_feed_id_feeds",
                                ondelete="SET NULL"),
    )
    op.create_index("ix_articles_status", "articles", ["status"])
    op.create_index("ix_articles_text_hash", "articles", ["text_hash"])
    op.create_index("ix_articles_cluster_id", "articles", ["cluster_id"])
    op.create_table(
        "clusters",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("canonical_article_id", sa.Integer, nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_clusters"),
        sa.ForeignKeyConstraint(["canonical_article_id"], ["articles.id"],
                                name="fk_clusters_canonical_article_id_articles"),
    )
    # articles <-> clusters reference each other: the second key is added once both exist.
    with op.batch_alter_table("articles") as batch:
        batch.create_foreign_key("fk_articles_cluster_id_clusters", "clusters",
                                 ["cluster_id"], ["id"])
    op.create_table(
        "entries",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("feed_id", sa.Integer, nullable=False),
        sa.Column("key", sa.String(2048), nullable=False),
        sa.Column("url", sa.String(2048), nullable=False),
        sa.Column("canonical_url", sa.String(2048), nullable=False),
        sa.Column("title", sa.Text),
        sa.Column("summary", sa.Text),
        sa.Column("author", sa.Text),
        sa.Column("published_at", TZ),
        sa.Column("first_seen_at", TZ, nullable=False),
        sa.Column("article_id", sa.Integer),
        sa.PrimaryKeyConstraint("id", name="pk_entries"),
        sa.UniqueConstraint("feed_id", "key", name="uq_entries_feed_id_key"),
        sa.ForeignKeyConstraint(["feed_id"], ["feeds.id"], name="fk_entries_feed_id_feeds",
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["article_id"], ["articles.id"],
                                name="fk_entries_article_id_articles", ondelete="SET NULL"),
    )
    op.create_index("ix_entries_article_id", "entries", ["article_id"])
    op.create_table(
        "lsh_buckets",
        sa.Column("bucket", sa.BigInteger, nullable=False, autoincrement=False),
        sa.Column("article_id", sa.Integer, nullable=False, autoincrement=False),
        sa.Column("indexed_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("bucket", "article_id", name="pk_lsh_buckets"),
        sa.ForeignKeyConstraint(["article_id"], ["articles.id"],
                                name="fk_lsh_buckets_article_id_articles", ondelete="CASCADE"),
    )
    op.create_index("ix_lsh_buckets_article_id", "lsh_buckets", ["article_id"])
    op.create_index("ix_lsh_buckets_indexed_at", "lsh_buckets", ["indexed_at"])
    op.create_table(
        "changes",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("cluster_id", sa.Integer, nullable=False),
        sa.Column("article_id", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_changes"),
        sa.ForeignKeyConstraint(["article_id"], ["articles.id"],
                                name="fk_changes_article_id_articles", ondelete="CASCADE"),
        sqlite_autoincrement=True,  # change ids are cursors: never reused
    )
    op.execute(CANONICAL_ARTICLES_VIEW)
    op.create_table(
        "robots_txt",
        sa.Column("url", sa.String(2048), nullable=False),
        sa.Column("status", sa.Integer, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("fetched_at", TZ, nullable=False),
        sa.Column("expires_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("url", name="pk_robots_txt"),
    )


def downgrade() -> None:
    op.drop_table("robots_txt")
    op.execute("DROP VIEW canonical_articles")
    for table in ("changes", "lsh_buckets", "entries"):
        op.drop_table(table)
    with op.batch_alter_table("articles") as batch:
        batch.drop_constraint("fk_articles_cluster_id_clusters", type_="foreignkey")
    op.drop_table("clusters")
    op.drop_table("articles")
    op.drop_table("feeds")
