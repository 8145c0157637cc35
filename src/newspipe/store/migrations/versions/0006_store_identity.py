"""store_identity: one row naming this store (a random UUID drawn at upgrade).

The Airflow publish task announces ranges of the `changes` log in its Asset events and
starts each range where the last one announced ended. A store made anew behind the same
Airflow starts its change ids again, and the old events' ranges would make it skip
changes: events now carry the store's id and only this store's events count.

Revision ID: 0006
Revises: 0005
"""

import uuid
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        "store_identity",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("store_id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_store_identity"),
    )
    op.bulk_insert(table, [{"id": 1, "store_id": str(uuid.uuid4()),
                            "created_at": datetime.now(UTC)}])


def downgrade() -> None:
    op.drop_table("store_identity")
