"""The extraction workers' forkserver, and the command-line entry point that starts it
before anything heavy is imported.

Extraction workers are forked from a forkserver that has imported and warmed the extraction
stack (`newspipe.extract._warm`: ~3 s of CPU, once per run). Started by the pool, that
warm-up would follow the command's own imports (~3 s: the pipeline, SQLAlchemy,
datasketch); a command that extracts starts it first thing instead, so the two overlap on
two cores. This module imports nothing of newspipe's at load time.
"""

from __future__ import annotations

import fcntl
import multiprocessing
import multiprocessing.context
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from multiprocessing import forkserver

PRELOAD = ["newspipe.extract.pool", "newspipe.extract._warm"]
# Commands that run the extraction pool.
EXTRACTING_COMMANDS = frozenset({"demo", "run", "backfill", "extract"})


# Room for a whole page in the pipe that carries pages to the workers (see `_WidePipes`).
PIPE_BYTES = 1 << 20


class _WidePipes(multiprocessing.context.ForkServerContext):
    """The forkserver context, with one-way pipes of PIPE_BYTES instead of Linux's 64 KB.
    pebble sends each page down one such pipe, from a thread of the parent, while a worker
    is still busy with the pages before it. A page larger than the pipe (the mean page of
    extraction-dev is 142 KB) waits half-sent, and the worker that takes it stalls while
    the parent's thread is woken to send each further 64 KB: 1.1 ms per 150 KB page on this
    machine, against 0.8 ms with pages that fit (the rest is pebble's hand-shake per task).
    """

    def Pipe(self, duplex: bool = True):  # noqa: N802 (multiprocessing's name)
        reader, writer = super().Pipe(duplex)
        if not duplex and hasattr(fcntl, "F_SETPIPE_SZ"):
            with suppress(OSError):  # above /proc/sys/fs/pipe-max-size: the default stays
                fcntl.fcntl(writer.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)
        return reader, writer


_CONTEXT = _WidePipes()


def mp_context() -> multiprocessing.context.BaseContext:
    """forkserver: workers start from a clean, single-threaded process (forking a process
    with threads, as Airflow's and rich's are, can deadlock), with the extraction stack
    already imported so a replaced worker starts in milliseconds."""
    _CONTEXT.set_forkserver_preload(PRELOAD)
    return _CONTEXT


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
