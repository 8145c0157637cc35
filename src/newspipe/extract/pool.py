"""Extraction across all cores, streaming, with a hard time limit per page.

Each page runs in a pebble worker process: a page that overruns its time limit has its
worker killed and replaced (a thread cannot be stopped; a process can), a page that crashes
its worker is recorded and the pool goes on. At most a few pages per worker are in flight, so
memory stays bounded however long the input; trafilatura's caches are reset every few hundred
pages and workers are replaced every few thousand, so it stays flat too.
"""

from __future__ import annotations

import os
import resource
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, wait
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

from pebble import ProcessExpired, ProcessPool
from trafilatura.meta import reset_caches

from newspipe.extract.core import FeedHints, extract_article
from newspipe.extract.guard import DEFAULT_LIMITS, ExtractionError, Limits, check_size
from newspipe.models import ExtractedArticle
from newspipe.workers import mp_context, parent_main_hidden

# A reset costs a worker ~0.2 s (the clearing and its garbage collection, then rebuilding
# what the next pages look up again, jusText's frozen stop list of all languages first):
# 0.8 ms per page when it came every 256 pages. The caches are bounded; the reset only
# gives their memory back.
CACHE_RESET_EVERY = 1024
PAGES_PER_WORKER = 5000
IN_FLIGHT_PER_WORKER = 4


@dataclass
class Job:
    """One page to extract; `key` is the caller's (an article id, a path), never sent."""

    key: Any
    content: bytes
    url: str | None
    charset: str | None = None
    hints: FeedHints | None = None
    refused: str | None = None  # the caller already knows why it cannot be extracted


@dataclass
class Outcome:
    key: Any
    article: ExtractedArticle | None = None
    error: str | None = None


_pages_since_reset = 0


def _limit_worker_memory(max_bytes: int) -> None:
    """Pool initializer: a page that needs more memory fails with MemoryError, recorded as
    its error, instead of pushing the machine into swap or the OOM killer."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard == resource.RLIM_INFINITY or hard > max_bytes:
        resource.setrlimit(resource.RLIMIT_AS, (max_bytes, hard))


def _extract_in_worker(content: bytes, url: str | None, charset: str | None,
                       hints: FeedHints | None, limits: Limits) -> ExtractedArticle:
    global _pages_since_reset
    try:
        return extract_article(content, url, charset, hints, limits)
    except ExtractionError:
        raise
    except MemoryError:
        raise ExtractionError("out of memory: the page needs more than "
                              f"{limits.max_worker_memory_bytes:,} bytes") from None
    except Exception as exc:  # a bug or library failure on one page must not stop a batch
        raise ExtractionError(f"extraction crashed: {type(exc).__name__}: {exc}") from None
    finally:
        _pages_since_reset += 1
        if _pages_since_reset >= CACHE_RESET_EVERY:
            reset_caches()
            _pages_since_reset = 0


def default_jobs() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class ExtractionPool:
    """`with ExtractionPool(jobs) as pool: for outcome in pool.extract(jobs): ...`"""

    def __init__(self, jobs: int | None = None, limits: Limits = DEFAULT_LIMITS) -> None:
        self.workers = max(1, jobs or default_jobs())
        self.limits = limits
        self._pool: ProcessPool | None = None

    def __enter__(self) -> ExtractionPool:
        with ExitStack() as stack:  # the main script shown again if the pool fails to start
            stack.enter_context(parent_main_hidden())
            self._pool = ProcessPool(max_workers=self.workers, max_tasks=PAGES_PER_WORKER,
                                     initializer=_limit_worker_memory,
                                     initargs=(self.limits.max_worker_memory_bytes,),
                                     context=mp_context())
            self._hidden = stack.pop_all()
        return self

    def __exit__(self, *exc_info) -> None:
        assert self._pool is not None
        try:
            self._pool.stop()
            self._pool.join()
        finally:
            self._pool = None
            self._hidden.close()

    def extract(self, jobs: Iterable[Job], ordered: bool = True) -> Iterator[Outcome]:
        """Outcomes of `jobs`, read lazily (only a few pages per worker are held at any
        time): in the order of `jobs`, or with `ordered=False` as they complete, so that a
        slow page holds up no worker (in order, the others run dry waiting behind it)."""
        limit = self.workers * IN_FLIGHT_PER_WORKER
        if ordered:
            yield from self._in_order(jobs, limit)
            return
        in_flight: dict[Future, Job] = {}
        for job in jobs:
            scheduled = self._schedule(job)
            if isinstance(scheduled, ExtractionError):
                yield Outcome(job.key, error=str(scheduled))
                continue
            in_flight[scheduled] = job
            if len(in_flight) >= limit:
                yield from self._completed(in_flight)
        while in_flight:
            yield from self._completed(in_flight)

    def _in_order(self, jobs: Iterable[Job], limit: int) -> Iterator[Outcome]:
        in_flight: deque[tuple[Job, Any]] = deque()
        for job in jobs:
            in_flight.append((job, self._schedule(job)))
            if len(in_flight) >= limit:
                yield self._outcome(*in_flight.popleft())
        while in_flight:
            yield self._outcome(*in_flight.popleft())

    def _completed(self, in_flight: dict[Future, Job]) -> Iterator[Outcome]:
        """Wait for at least one page; the outcomes of all finished ones."""
        done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
        for future in done:
            yield self._outcome(in_flight.pop(future), future)

    def _schedule(self, job: Job):
        """A future, or the error itself when the page is refused before leaving us."""
        assert self._pool is not None, "use ExtractionPool as a context manager"
        if job.refused:
            return ExtractionError(job.refused)
        try:
            check_size(job.content, self.limits)  # never ship 100 MB to a worker
        except ExtractionError as exc:
            return exc
        return self._pool.schedule(
            _extract_in_worker, args=(job.content, job.url, job.charset, job.hints, self.limits),
            timeout=self.limits.timeout_seconds)

    def _outcome(self, job: Job, future) -> Outcome:
        if isinstance(future, ExtractionError):
            return Outcome(job.key, error=str(future))
        try:
            return Outcome(job.key, article=future.result())
        except ExtractionError as exc:
            return Outcome(job.key, error=str(exc))
        except FutureTimeout:
            return Outcome(job.key, error=f"timed out after {self.limits.timeout_seconds:g} s "
                                          "(worker stopped and replaced)")
        except ProcessExpired as exc:
            return Outcome(job.key, error=f"worker died (exit code {exc.exitcode}): {exc}")
