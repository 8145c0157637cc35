"""Opening the store: engine set-up per backend, and migrations to the newest schema."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


class StoreError(RuntimeError):
    """The store cannot be opened or used (bad URL, server down, schema too new...)."""


def _one_line(error: BaseException) -> str:
    return " ".join(str(getattr(error, "orig", None) or error).split())


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # SQLAlchemy emits BEGIN itself (see _sqlite_begin), so pysqlite must not.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    # WAL lets readers (consumers, the CLI) work while the pipeline writes.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin(connection: Connection) -> None:
    # pysqlite's own BEGIN is deferred: two writers could both read, then both write what
    # they read. Write transactions take the write lock up front instead.
    mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
    connection.exec_driver_sql(f"BEGIN {mode}")


def normalise_database_url(url: str) -> str:
    """Accept the URLs users type: postgres:// and postgresql:// mean psycopg 3 here."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


def create_store_engine(url: str) -> Engine:
    url = normalise_database_url(url)
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StoreError(f"not a database URL: {url!r}") from None
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            Path(database).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    try:
        return create_engine(parsed, pool_pre_ping=True)
    except (ArgumentError, ImportError) as exc:
        raise StoreError(f"cannot use database URL {parsed!r}: {exc}") from None


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


class Store:
    """A handle on the canonical store. Cheap to create; share one per process."""

    def __init__(self, url: str):
        self.url = normalise_database_url(url)
        self.engine = create_store_engine(self.url)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def migrate(self) -> None:
        """Bring the schema to the newest revision (idempotent)."""
        try:
            with self.begin() as connection:
                if self.dialect == "postgresql":
                    # Two processes migrating at once would race on CREATE TABLE.
                    connection.exec_driver_sql("SELECT pg_advisory_xact_lock(7420001)")
                command.upgrade(alembic_config(connection), "head")
        except OperationalError as exc:
            raise StoreError(
                f"cannot open the store at {self.safe_url}: {_one_line(exc)}") from None

    def check_schema(self) -> None:
        with self.connect() as connection:
            current = current_revision(connection)
        if current != head_revision():
            raise StoreError(
                f"store schema is at {current or 'nothing'}, this newspipe needs "
                f"{head_revision()}: run `newspipe db upgrade`"
            )

    @property
    def safe_url(self) -> str:
        return make_url(self.url).render_as_string(hide_password=True)

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """A transaction: committed on success, rolled back on any exception."""
        try:
            with self.engine.connect() as connection:
                connection = connection.execution_options(sqlite_begin="IMMEDIATE")
                with connection.begin():
                    yield connection
        except OperationalError as exc:
            raise StoreError(f"cannot use the store at {self.safe_url}: {_one_line(exc)}") from exc

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        try:
            with self.engine.connect() as connection:
                yield connection
        except OperationalError as exc:
            raise StoreError(f"cannot use the store at {self.safe_url}: {_one_line(exc)}") from exc

    def dispose(self) -> None:
        self.engine.dispose()


def open_store(url: str, *, migrate: bool = True) -> Store:
    """Open the store at `url`, creating/upgrading its schema unless `migrate` is False."""
    store = Store(url)
    try:
        if migrate:
            store.migrate()
        else:
            store.check_schema()
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot open the store at {store.safe_url}: {_one_line(exc)}") from None
    return store
