"""The LSH index as derived data: on PostgreSQL `lsh_buckets` becomes UNLOGGED, and the new
`lsh_index_state` (UNLOGGED too) holds one row while the index is complete.

Each article writes ~49 index rows with random keys. In a large index (49M rows at 1M
articles) nearly every one lands on a different page, and PostgreSQL writes a full page
image to the WAL for each page the first time it changes after a checkpoint: ~0.5 GB of
WAL per 2,000 articles (bench/dedup_scale.py). An unlogged table writes none. Its price:
crash recovery, and a standby's promotion, leave it empty. The rows can be made again from
the articles' stored texts, and the emptied `lsh_index_state` tells the dedup stage to do
so before it places anything (pipeline.restore_index). SQLite has no unlogged tables:
there both are ordinary tables and the state row is never lost.

`ALTER TABLE ... SET UNLOGGED` rewrites the table: on a large index the upgrade takes as
long as copying it.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _is_postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    op.create_table(
        "lsh_index_state",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("complete_since", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_lsh_index_state"),
        prefixes=["UNLOGGED"] if _is_postgresql() else [],
    )
    # The index as it stands was written with its articles: it is complete.
    op.execute("INSERT INTO lsh_index_state (id, complete_since) VALUES (1, CURRENT_TIMESTAMP)")
    if _is_postgresql():
        op.execute("ALTER TABLE lsh_buckets SET UNLOGGED")


def downgrade() -> None:
    if _is_postgresql():
        op.execute("ALTER TABLE lsh_buckets SET LOGGED")
    op.drop_table("lsh_index_state")
