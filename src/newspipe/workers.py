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
