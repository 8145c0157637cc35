"""entries.image: the lead image a feed entry names (Media RSS content or thumbnail, an
image enclosure, JSON Feed's image), the article's image until its page gives one.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("entries", sa.Column("image", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("entries", "image")
