"""Limits that keep one page from hanging or exhausting a worker, and the error they raise."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from lxml import etree
from lxml.html import HtmlElement

# Bytes other than these below 0x20 do not occur in text, HTML or not.
_TEXT_CONTROLS = frozenset(b"\t\n\r\f\x1b")
# How much of a page the content checks look at.
SNIFF_BYTES = 4096


class ExtractionError(ValueError):
    """A page newspipe could not extract an article from; the message says why."""


@dataclass(frozen=True)
class Limits:
    """Per-page limits. The defaults sit far above real news pages (the 300 pages of the
    extraction dev set peak at 1.6 MB, 6,749 elements and 40 levels of nesting)."""

    max_bytes: int = 20_000_000
    max_elements: int = 60_000
    # libxml2 silently cuts trees at 256 levels: a page near that was not parsed whole.
    max_depth: int = 200
    timeout_seconds: float = 30.0
    # Address space of a worker process: a page that needs more gets a MemoryError.
    max_worker_memory_bytes: int = 4 * 1024**3


DEFAULT_LIMITS = Limits()


def check_size(content: bytes, limits: Limits = DEFAULT_LIMITS) -> None:
    if not content.strip():
        raise ExtractionError("empty page")
    if len(content) > limits.max_bytes:
        raise ExtractionError(
            f"page too large: {len(content):,} bytes (limit {limits.max_bytes:,})")


def _low_codes(head: bytes | str) -> list[int]:
    """The codes below 0x20 of bytes, or of the characters of a decoded text."""
    codes = head if isinstance(head, bytes) else map(ord, head)
    return [code for code in codes if code < 0x20]


def check_not_binary(content: bytes | str) -> None:
    """Images, PDFs and random bytes sent as text/html: refuse them before parsing. Given
    the raw bytes, or the text a UTF-16/32 page decodes to (its NUL bytes are text)."""
    head = content[:SNIFF_BYTES]
    low_codes = _low_codes(head)
    if 0 in low_codes:
        raise ExtractionError("binary content, not an HTML page (NUL bytes)")
    controls = sum(1 for code in low_codes if code not in _TEXT_CONTROLS)
    if controls > len(head) * 0.02:
        raise ExtractionError(f"binary content, not an HTML page ({controls} control bytes "
                              f"in the first {len(head)})")


@lru_cache
def _deeper_than(levels: int) -> etree.XPath:
    """Whether any element lies more than `levels` deep: one XPath step per level,
    evaluated in C (a Python walk over the tree cost 3% of extraction)."""
    return etree.XPath("boolean(" + "/*" * (levels + 1) + ")")


def check_tree(tree: HtmlElement, limits: Limits = DEFAULT_LIMITS) -> None:
    if tree.xpath("count(//*)") > limits.max_elements:
        raise ExtractionError(
            f"page too complex: more than {limits.max_elements:,} HTML elements")
    if _deeper_than(limits.max_depth)(tree):
        raise ExtractionError(
            f"page too deeply nested: more than {limits.max_depth} levels of elements")
