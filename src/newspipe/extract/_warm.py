"""Imported once by the extraction pool's forkserver, never by the pipeline itself: every
worker forked from it starts with the slow one-time set-ups done (dateparser compiles
regular expressions per locale on first use; the language model loads; trafilatura's
jusText fallback builds its stop list of every language). A worker started cold spent ~3 s
of its first 300 pages compiling dateparser's regular expressions and 0.1-0.3 s on the
stop list, and a worker replaced after a timeout would pay them again."""

import py3langid
from htmldate.extractors import get_external_parser
from trafilatura.external import jt_stoplist_init

get_external_parser().get_date_data("12 mars 2020")
# A string no locale accepts makes dateparser try, and so compile, every locale's patterns.
get_external_parser().get_date_data("xqzv 12 xqzv")
py3langid.classify("a few words to load the language identification model")
jt_stoplist_init()
