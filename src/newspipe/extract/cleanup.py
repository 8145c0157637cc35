"""Text clean-up after trafilatura: what the page's own structured data and the feed tell us
is not the article, and boilerplate lines learned from a site's other articles."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

_WORDS = re.compile(r"\w+")
# A structured body must account for this share of trafilatura's text to be trusted:
# below it, the body is a teaser or belongs to another article on the page.
_MIN_STRUCTURED_COVERAGE = 0.7


def normalized(line: str) -> str:
    """Lower-case words only: the form in which lines are compared."""
    return " ".join(_WORDS.findall(line.lower()))


def keep_structured_paragraphs(text: str, structured_body: str | None) -> str:
    """Drop the paragraphs that the page's JSON-LD articleBody does not contain (menus,
    teasers, pleas trafilatura let through), when that body is consistent with the text."""
    if not structured_body:
        return text
    body = normalized(structured_body)
    lines = text.splitlines()
    kept = [line for line in lines if normalized(line) in body]
    if sum(map(len, kept)) < _MIN_STRUCTURED_COVERAGE * sum(map(len, lines)):
        return text
    return "\n".join(kept)


def trim_repeats(text: str, title: str | None, teasers: Iterable[str | None] = ()) -> str:
    """Remove the headline when the text opens with it, and the second and later copies of
    a teaser (feed summary, page description) that the page repeats."""
    lines = text.splitlines()
    if title and lines and normalized(lines[0]) == normalized(title):
        lines = lines[1:]
    repeated = {normalized(t) for t in teasers if t and normalized(t)}
    seen: set[str] = set()
    kept = []
    for line in lines:
        key = normalized(line)
        if key in repeated and key in seen:
            continue
        seen.add(key)
        kept.append(line)
    return "\n".join(kept)


def learn_boilerplate(texts: Iterable[str], min_articles: int = 5,
                      min_share: float = 0.2) -> frozenset[str]:
    """Lines (normalized) that recur in many articles of one site: subscription pleas,
    "Read more", copyright lines. A story's own lines do not recur across articles. The
    texts are as extracted: a stored text with the learned lines it lost put back (see
    `remove_boilerplate`), or a line would be forgotten once every recent text had lost it."""
    counts: Counter[str] = Counter()
    total = 0
    for text in texts:
        total += 1
        counts.update({key for line in text.splitlines() if (key := normalized(line))})
    needed = max(min_articles, min_share * total)
    return frozenset(line for line, count in counts.items() if count >= needed)


def remove_boilerplate(text: str, boilerplate: frozenset[str]) -> tuple[str, tuple[str, ...]]:
    """The text without learned boilerplate lines, and those lines (normalized), kept for
    learning; the text unchanged if nothing else would remain (a page that is all
    boilerplate is better judged by a reader than emptied)."""
    if not boilerplate:
        return text, ()
    kept, removed = [], []
    for line in text.splitlines():
        (removed if normalized(line) in boilerplate else kept).append(line)
    if not kept:
        return text, ()
    return "\n".join(kept), tuple(normalized(line) for line in removed)
