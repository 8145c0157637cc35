"""Alembic environment: runs on the connection newspipe hands over (see store.engine)."""

from alembic import context

from newspipe.store.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("newspipe migrations run through `newspipe db upgrade`")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
