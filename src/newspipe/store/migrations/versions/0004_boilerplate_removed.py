"""articles.boilerplate_removed: the learned boilerplate lines taken out of an article's text.

Per-site boilerplate (subscription pleas, "Read more", copyright lines) is learned from the
feed's latest stored texts. Those texts have already lost the lines learned before, so once
every recent text had lost a line it was no longer learned, and the next articles kept it
until it recurred often enough again. The lines removed are kept beside the text (one
normalised line per line), and learning counts them as present.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("articles", sa.Column("boilerplate_removed", sa.Text(), nullable=True))


def downgrade() -> None:
    # SQLite drops a column in place since 3.35; rebuilding the table (Alembic's batch mode)
    # would fail on the canonical_articles view that reads it.
    op.drop_column("articles", "boilerplate_removed")
