"""HTML -> clean article text + metadata.

core     trafilatura configured for news, decoding, the extraction of one page
metadata JSON-LD article data, UTC dates, language identification
cleanup  structured-body filtering, headline/teaser repeats, learned per-site boilerplate
guard    size, tree and time limits and the error they raise
pool     extraction across all cores with a hard per-page time limit
"""

from newspipe.extract.core import FeedHints, decode_html, extract_article
from newspipe.extract.guard import DEFAULT_LIMITS, ExtractionError, Limits
from newspipe.extract.metadata import best_published_at

__all__ = ["DEFAULT_LIMITS", "ExtractionError", "FeedHints", "Limits", "best_published_at",
           "decode_html", "extract_article"]
