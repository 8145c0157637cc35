"""Syndication de-duplication: normalise -> shingles -> MinHash -> persistent LSH ->
verified candidates -> clusters with one canonical article each."""

from newspipe.dedup.engine import Deduplicator, DedupSettings

__all__ = ["Deduplicator", "DedupSettings"]
