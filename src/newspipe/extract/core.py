"""HTML -> clean article text + metadata, with trafilatura configured for news."""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

import lxml.html
import trafilatura
from lxml import etree
from lxml.html import HtmlComment, HtmlElement, HtmlEntity, HtmlProcessingInstruction
from trafilatura.utils import decode_file, is_dubious_html, repair_faulty_html

from newspipe.dates import parse_utc
from newspipe.extract import cleanup
from newspipe.extract.guard import (
    DEFAULT_LIMITS,
    SNIFF_BYTES,
    ExtractionError,
    Limits,
    check_not_binary,
    check_size,
    check_tree,
)
from newspipe.extract.metadata import (
    best_published_at,
    drop_site_from_authors,
    identify_language,
    page_metadata,
    strip_site_from_title,
    structured_article,
)
from newspipe.fetch.urls import absolute_http_url
from newspipe.models import ExtractedArticle

# Chosen by measurement (bench/eval_extraction.py, 300 pages): the balanced preset without
# comments scores the best F1 of trafilatura's presets (favor_precision, favor_recall and
# fast all lose recall more than they gain precision).
TRAFILATURA_OPTIONS = {
    "include_comments": False,
    "include_tables": True,
    "fast": False,
    "favor_precision": False,
    "favor_recall": False,
}
# Byte-order marks of the encodings whose ASCII characters carry NUL bytes; UTF-32-LE's
# first, as it begins with UTF-16-LE's.
_WIDE_BOMS = ((codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF32_BE, "utf-32-be"),
              (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))
# (codec, bytes per code unit, offset of an ASCII character's own byte in its unit).
_WIDE_LAYOUTS = (("utf-32-le", 4, 0), ("utf-32-be", 4, 3),
                 ("utf-16-le", 2, 0), ("utf-16-be", 2, 1))
# In the first 4 KB of a UTF-16/32 page, every ASCII character (markup at least: ~20 % of
# a Chinese page with short paragraphs) pads with NUL bytes, and only U+xx00 characters
# (一, "one", ~2 % of Chinese text) have a NUL character byte. Random bytes are NUL 1/256
# of the time at every offset, zero-filled binary at every offset.
_MIN_PADDING_NULS = 0.1
_MAX_CHAR_BYTE_NULS = 0.05
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)
# trafilatura's parser settings. lxml.html's own parsers look each element's class up in
# Python, to give form fields classes of their own that trafilatura never uses; looked up
# in C, every element is the same HtmlElement and the extraction costs 3-4 % less CPU
# (the same text and metadata on the 300 extraction-dev pages).
_HTML_PARSER = lxml.html.HTMLParser(collect_ids=False, default_doctype=False, encoding="utf-8",
                                    remove_comments=True, remove_pis=True)
_HTML_PARSER.set_element_class_lookup(etree.ElementDefaultClassLookup(
    element=HtmlElement, comment=HtmlComment, pi=HtmlProcessingInstruction, entity=HtmlEntity))
# What never holds article text, removed before trafilatura sees the page (JSON-LD stays:
# trafilatura reads it to detect forums and as a fallback article body). trafilatura's own
# cleaning drops all of these from its main extraction, but only after copying the tree
# several times, and its fallbacks (readability, jusText, the page-share test of its recall
# retry) see them: scripts and styles are close to half of a news page's bytes, the head's
# meta and link tags, footers, asides, inline SVG and form controls a fifth of its elements.
# Measured on the 300 extraction-dev pages (bench/eval_extraction.py): F1 0.9330 -> 0.9349
# (precision 0.9038 -> 0.9093, recall 0.9643 -> 0.9621) and ~8 % less CPU than scripts and
# styles alone. Not <nav> (recall fell to 0.954: some pages keep their article in one) nor
# <figure> (captions carry article text).
_NON_CONTENT = etree.XPath(
    '//script[not(@type="application/ld+json")]|//style|//head/*[not(self::script)]'
    "|//noscript|//svg|//footer|//aside|//iframe|//template"
    "|//button|//select|//input|//label")
DATE_OPTIONS = {"extensive_search": True, "original_date": True,
                "outputformat": "%Y-%m-%dT%H:%M:%S%z"}


@dataclass(frozen=True)
class FeedHints:
    """What the feed entry says about the article: used to trim repeats of its headline
    and teaser (values the page lacks are taken from the feed by the store)."""

    title: str | None = None
    summary: str | None = None


def _codec(charset: str | None) -> str | None:
    """The codec a charset label names, if it names a text encoding (`base64` and `rot13`
    are codecs too, and decode no page)."""
    if not charset:
        return None
    try:
        name = codecs.lookup(charset.strip().strip("'\"")).name
        "a".encode(name)  # LookupError for a codec that is not a text encoding
    except LookupError:
        return None
    return name


def _is_single_byte(codec: str) -> bool:
    try:
        return len("\u00e9".encode(codec)) == 1
    except UnicodeEncodeError:
        return False


def _is_utf8(content: bytes) -> bool:
    try:
        content.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _meta_charset(content: bytes) -> str | None:
    match = _META_CHARSET.search(content[:4096])
    return match.group(1).decode("ascii") if match else None


def _nul_share(head: bytes, offset: int, width: int) -> float:
    units = head[offset::width]
    return units.count(0) / len(units) if units else 0.0


def _has_nul_pattern(head: bytes, width: int, char_offset: int) -> bool:
    """Whether the bytes are ASCII-heavy text in code units of `width` bytes: markup is
    ASCII, whose characters leave every byte but the one at `char_offset` NUL. Binary data
    has NUL bytes at every offset, or at none often enough."""
    head = head[:len(head) - len(head) % width]
    if not head or _nul_share(head, char_offset, width) > _MAX_CHAR_BYTE_NULS:
        return False
    return all(_nul_share(head, offset, width) >= _MIN_PADDING_NULS
               for offset in range(width) if offset != char_offset)


def wide_unicode_codec(content: bytes) -> str | None:
    """UTF-16 or UTF-32, and its byte order, when the bytes show it (a BOM, else the NUL
    bytes of ASCII characters): evidence no label can override, since a page in any other
    encoding has no NUL bytes."""
    for bom, codec in _WIDE_BOMS:
        if content.startswith(bom):
            return codec
    head = content[:SNIFF_BYTES]
    for codec, width, char_offset in _WIDE_LAYOUTS:
        if _has_nul_pattern(head, width, char_offset):
            return codec
    return None


def _decode_wide(content: bytes, codec: str) -> str:
    """Without the BOM (U+FEFF in a codec of explicit byte order). A stray odd byte or lone
    surrogate does not make the page any less UTF-16/32: replaced, not fatal."""
    return content.decode(codec, errors="replace").removeprefix("\ufeff")


def _is_wide(codec: str) -> bool:
    """UTF-16 and UTF-32, the codecs in which ASCII markup has NUL bytes."""
    return b"\x00" in "<".encode(codec)


def _decode_declared_or_detected(content: bytes, charset: str | None) -> str:
    """Bytes that are not UTF-16/32 (see `decode_html`)."""
    for declared in (charset, _meta_charset(content)):
        codec = _codec(declared)
        # A UTF-16/32 label on bytes without its NUL bytes is as wrong as a label can be,
        # and decoding "succeeds" (into CJK garbage) whenever the length is even.
        if codec is None or _is_wide(codec) or (_is_single_byte(codec) and _is_utf8(content)):
            continue
        try:
            return content.decode(codec)
        except UnicodeDecodeError:
            continue
    return decode_file(content)


def decode_html(content: bytes, charset: str | None) -> str:
    """Decode UTF-16 and UTF-32 as the bytes show them (BOM or NUL bytes), whatever the
    labels say. Other bytes with the server's charset when it names a real one that fits
    the bytes, else with the page's own <meta charset>, else detect (UTF-8 first, then
    charset-normalizer, via trafilatura). A body that is valid UTF-8 but labelled with a
    one-byte charset is the common server mislabel: UTF-8 wins (non-ASCII text in a
    one-byte charset is almost never valid UTF-8). A UTF-16/32 label on other bytes is
    ignored."""
    codec = wide_unicode_codec(content)
    if codec is not None:
        return _decode_wide(content, codec)
    return _decode_declared_or_detected(content, charset)


def _fromstring(markup: str | bytes) -> HtmlElement | None:
    try:
        return lxml.html.fromstring(markup, parser=_HTML_PARSER)
    except (ValueError, etree.LxmlError):  # an encoding declaration in text; an empty document
        return None


def load_html(text: str) -> HtmlElement | None:
    """Decoded HTML -> a tree, as trafilatura's `load_html` does it (faulty markup repaired,
    bytes tried when text fails, None for what is not HTML), with the parser above."""
    beginning = text[:50].lower()
    text = repair_faulty_html(text, beginning)
    tree = _fromstring(text)
    if tree is None or len(tree) < 1:
        tree = _fromstring(text.encode("utf8", "surrogatepass"))
    if tree is None or (is_dubious_html(beginning) and len(tree) < 2):
        return None
    return tree


def _decode_text(content: bytes, charset: str | None) -> str:
    """The page as text, refusing binary content: before decoding (detecting a charset
    costs more than refusing), except for UTF-16/32, whose ASCII characters carry NUL
    bytes: what they decode to is checked instead."""
    codec = wide_unicode_codec(content)
    if codec is None:
        check_not_binary(content)
        return _decode_declared_or_detected(content, charset)
    text = _decode_wide(content, codec)
    check_not_binary(text)
    return text


def parse_page(content: bytes, charset: str | None, limits: Limits = DEFAULT_LIMITS,
               ) -> HtmlElement:
    """Bytes -> an lxml tree, refusing what is too large, binary, not HTML or too complex."""
    check_size(content, limits)
    tree = load_html(_decode_text(content, charset))
    if tree is None:
        raise ExtractionError("not an HTML document")
    check_tree(tree, limits)
    return tree


def strip_non_content(tree: HtmlElement) -> None:
    """Remove what never holds article text (see `_NON_CONTENT`; tails stay), once the
    metadata has been read."""
    for element in _NON_CONTENT(tree):
        if element.getparent() is not None:  # a fragment of one <footer> is its own root
            element.drop_tree()


def extract_article(content: bytes, url: str | None, charset: str | None = None,
                    hints: FeedHints | None = None,
                    limits: Limits = DEFAULT_LIMITS) -> ExtractedArticle:
    """The article of one page: trafilatura's text, cleaned with the page's structured data
    and the feed's headline and teaser, and its metadata with every date in UTC."""
    tree = parse_page(content, charset, limits)
    structured = structured_article(tree)
    document = page_metadata(tree, url, DATE_OPTIONS)
    strip_non_content(tree)
    # trafilatura works on its own copy of the tree; links resolve against the canonical
    # URL when the caller knows none, as in its own metadata-and-text extraction.
    extracted = trafilatura.bare_extraction(tree, url=url or document.url, **TRAFILATURA_OPTIONS)
    if extracted is None or not (extracted.text or "").strip():
        raise ExtractionError("no article text found")
    document.text = extracted.text
    hints = hints or FeedHints()
    title = strip_site_from_title(document.title, document.sitename, url or document.url)
    text = cleanup.keep_structured_paragraphs(document.text.strip(), structured.body)
    text = cleanup.trim_repeats(text, title or hints.title,
                                (hints.summary, document.description))
    if not text.strip():
        raise ExtractionError("no article text left after removing headline and teasers")
    return ExtractedArticle(
        text=text.strip(),
        title=title,
        author=drop_site_from_authors(document.author, document.sitename, url or document.url),
        published_at=best_published_at(parse_utc(document.date), structured.published_at),
        updated_at=structured.modified_at,
        language=identify_language(text),
        sitename=document.sitename,
        canonical_url=document.url,
        description=document.description,
        image=absolute_http_url(document.image, url or document.url),
    )
