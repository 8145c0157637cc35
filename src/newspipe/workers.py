"""The extraction workers' forkserver, and the command-line entry point that starts it
before anything heavy is imported.

Extraction workers are forked from a forkserver that has imported and warmed the extraction
stack (`newspipe.extract._warm`: ~3 s of CPU, once per run). Started by the pool, that
warm-up would follow the command's own imports (~3 s: the pipeline, SQLAlchemy,
datasketch); a command that extracts starts it first thing instead, so the two overlap on
two cores. This module imports nothing of newspipe's at load time.
"""

from __future__ import annotations

import multiprocessing
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing import forkserver

PRELOAD = ["newspipe.extract.pool", "newspipe.extract._warm"]
# Commands that run the extraction pool.
EXTRACTING_COMMANDS = frozenset({"demo", "run", "backfill", "extract"})


def mp_context() -> multiprocessing.context.BaseContext:
    """forkserver: workers start from a clean, single-threaded process (forking a process
    with threads, as Airflow's and rich's are, can deadlock), with the extraction stack
    already imported so a replaced worker starts in milliseconds."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    return context


_main_hidden = threading.Lock()
_pools_running = 0
_hidden_main_file: str | None = None


@contextmanager
def parent_main_hidden() -> Iterator[None]:
    """While extraction workers may start: multiprocessing has each worker run the parent's
    main script again (as `__mp_main__`) unless it is a module run with `-m`. In an Airflow
    task that script is `airflow`, which initialises Airflow in every worker and fails there
    (a task process has no metadata database): every worker died at start and the extract
    task failed with "All workers expired". The workers need nothing of the main script, so
    `__main__.__file__` is hidden while any pool runs (the `newspipe` command and the
    benchmarks guard their main code, and lose nothing by it either)."""
    global _pools_running, _hidden_main_file
    main = sys.modules["__main__"]
    with _main_hidden:
        if _pools_running == 0:
            _hidden_main_file = main.__dict__.pop("__file__", None)
        _pools_running += 1
    try:
        yield
    finally:
        with _main_hidden:
            _pools_running -= 1
            if _pools_running == 0 and _hidden_main_file is not None:
                main.__file__ = _hidden_main_file
                _hidden_main_file = None


def start_forkserver() -> None:
    """Start the forkserver now (it warms up in the background; the pool finds it
    running)."""
    mp_context()
    forkserver.ensure_running()


def main() -> None:
    """The `newspipe` command."""
    if EXTRACTING_COMMANDS.intersection(sys.argv[1:2]):
        start_forkserver()
    from newspipe.cli import main as cli_main

    cli_main()
