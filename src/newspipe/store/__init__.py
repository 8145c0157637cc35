"""The canonical store: schema and migrations, the pipeline's write API, the consumers' read API."""

from newspipe.store.engine import Store, StoreError, open_store

__all__ = ["Store", "StoreError", "open_store"]
