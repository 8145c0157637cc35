"""Imported once by the extraction pool's forkserver, never by the pipeline itself: every
worker forked from it starts with the slow one-time set-ups done (dateparser compiles
regular expressions for all its locales on first use, ~3 s; the language model loads)."""

import py3langid
from htmldate.extractors import get_external_parser

get_external_parser().get_date_data("12 mars 2020")
py3langid.classify("a few words to load the language identification model")
