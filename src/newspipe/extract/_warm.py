"""Imported once by the extraction pool's forkserver, never by the pipeline itself: every
worker forked from it starts with the slow one-time set-ups done (dateparser compiles
regular expressions per locale on first use; the language model loads; trafilatura's
jusText fallback builds its stop list of every language). A worker started cold spent ~3 s
of its first 300 pages compiling dateparser's regular expressions and 0.1-0.3 s on the
stop list, and a worker replaced after a timeout would pay them again.

What the warm-up leaves behind (~100k objects: the modules, compiled patterns, the model)
lives as long as the worker, so it is moved out of the garbage collector's sight: each full
collection then looks at ~5k objects instead of ~90k (0.012 s against 0.12 s for the one
trafilatura's cache reset makes, and 0.05-0.07 s against 0.12-0.3 s of automatic collections
per 300 pages)."""

import gc

import py3langid
import trafilatura.external
from htmldate.extractors import get_external_parser
from justext.core import define_stoplist


class _StopList(tuple):
    """jusText's stop list of every language (154k words), hashed once. jusText looks the
    list's frozen set up in a cache keyed by the tuple itself, which was hashed anew, 11 ms,
    at each of trafilatura's jusText fallbacks (34 of the 300 extraction-dev pages, ~2 % of
    their extraction time)."""

    def __hash__(self) -> int:
        try:
            return self._hash
        except AttributeError:
            self._hash = super().__hash__()
            return self._hash


get_external_parser().get_date_data("12 mars 2020")
# A string no locale accepts makes dateparser try, and so compile, every locale's patterns.
get_external_parser().get_date_data("xqzv 12 xqzv")
py3langid.classify("a few words to load the language identification model")
trafilatura.external.JT_STOPLIST = _StopList(trafilatura.external.jt_stoplist_init())
define_stoplist(trafilatura.external.JT_STOPLIST)
gc.freeze()
