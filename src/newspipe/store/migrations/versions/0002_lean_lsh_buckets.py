"""Leaner LSH index: no foreign key from lsh_buckets to articles; on PostgreSQL a BRIN index
on indexed_at for the retention prune.

Each article writes ~49 index rows; the per-row foreign key check doubled PostgreSQL's cost
of writing them (bench/dedup_scale.py). Index rows are written and removed only with their
articles, and a lookup keeps only ids found in `articles`, so the key guarded nothing a
lookup relies on. Rows arrive in time order, which is what BRIN summarises well.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _is_postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    with op.batch_alter_table("lsh_buckets") as batch:  # SQLite: the table is rebuilt
        batch.drop_constraint("fk_lsh_buckets_article_id_articles", type_="foreignkey")
    if _is_postgresql():
        op.drop_index("ix_lsh_buckets_indexed_at", table_name="lsh_buckets")
        op.create_index("ix_lsh_buckets_indexed_at", "lsh_buckets", ["indexed_at"],
                        postgresql_using="brin")


def downgrade() -> None:
    # Index rows of articles that no longer exist would break the foreign key.
    op.execute("DELETE FROM lsh_buckets WHERE article_id NOT IN (SELECT id FROM articles)")
    if _is_postgresql():
        op.drop_index("ix_lsh_buckets_indexed_at", table_name="lsh_buckets")
        op.create_index("ix_lsh_buckets_indexed_at", "lsh_buckets", ["indexed_at"])
    with op.batch_alter_table("lsh_buckets") as batch:
        batch.create_foreign_key("fk_lsh_buckets_article_id_articles", "articles",
                                 ["article_id"], ["id"], ondelete="CASCADE")
