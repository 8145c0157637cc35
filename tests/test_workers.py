"""The extraction workers' set-up: the pipes that carry pages to them and their warm-up."""

from __future__ import annotations

import fcntl
import subprocess
import sys
from pathlib import Path

import pytest

from newspipe.extract.pool import ExtractionPool, Job
from newspipe.workers import PIPE_BYTES, mp_context

PIPE_MAX_SIZE = Path("/proc/sys/fs/pipe-max-size")


@pytest.mark.skipif(not hasattr(fcntl, "F_GETPIPE_SZ"), reason="Linux pipes only")
def test_pipes_to_the_workers_hold_a_whole_page():
    reader, writer = mp_context().Pipe(duplex=False)
    with reader, writer:
        size = fcntl.fcntl(writer.fileno(), fcntl.F_GETPIPE_SZ)
    allowed = int(PIPE_MAX_SIZE.read_text()) if PIPE_MAX_SIZE.exists() else PIPE_BYTES
    assert size >= min(PIPE_BYTES, allowed)
    assert size > 64 * 1024 or allowed <= 64 * 1024


def test_pages_larger_than_the_pipe_still_arrive_whole():
    paragraph = b"<p>The ferry terminal was approved on Tuesday by the harbour board.</p>"
    article = paragraph * (3 * PIPE_BYTES // len(paragraph))  # 3 MB: three pipes full
    page = b"<html><body><article>" + article + b"<p>The last line.</p></article></body></html>"
    with ExtractionPool(2) as pool:
        outcomes = list(pool.extract([Job(n, page, None) for n in range(3)]))
    for outcome in outcomes:
        assert outcome.error is None, outcome.error
        assert outcome.article.text.endswith("The last line.")


WARMED_STOP_LIST = """
import newspipe.extract._warm as warm
import trafilatura.external
from justext.core import define_stoplist
from justext.utils import get_stoplist, get_stoplists
stop_list = trafilatura.external.JT_STOPLIST
assert isinstance(stop_list, warm._StopList)
assert set(stop_list) == {w for lang in get_stoplists() for w in get_stoplist(lang)}
assert hash(stop_list) == hash(tuple(stop_list))
before = define_stoplist.cache_info()
assert define_stoplist(stop_list) == frozenset(w.lower() for w in stop_list)
after = define_stoplist.cache_info()
assert (after.hits, after.misses) == (before.hits + 1, before.misses), (before, after)
"""


def test_the_workers_stop_list_is_jusTexts_own_and_found_in_its_cache():
    """The warm-up swaps trafilatura's stop list for one that keeps its hash: same words,
    same hash, and jusText's cache finds the frozen set built at warm-up."""
    done = subprocess.run([sys.executable, "-c", WARMED_STOP_LIST], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
