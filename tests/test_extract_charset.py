"""UTF-16 and UTF-32: labels that lie about a UTF-8 page are ignored, pages that really are
UTF-16 or UTF-32 are decoded (not refused as binary for their NUL bytes), binary stays out."""

from __future__ import annotations

import codecs
import random
import struct

import pytest

from newspipe.extract import ExtractionError, decode_html, extract_article
from test_extract_guards import CAFE, cafe_html

# Mostly characters whose UTF-16 code units have no NUL byte, some (一 U+4E00) with one.
HARBOUR = "港务局周二批准了新的渡轮码头，一万名居民、渔民和地区议会为此争论了十年。" * 3
URL = "http://127.0.0.1/cafe"


def utf8_bytes(page: str) -> bytes:
    """UTF-8 bytes padded to a multiple of four: bytes of odd length fail to decode as
    UTF-16 and fell through to detection even before, which would hide the mislabel."""
    content = page.encode()
    return content + b" " * (-len(content) % 4)


@pytest.mark.parametrize("label", ["utf-16", "UTF-16LE", "utf-16be", "utf-32"])
def test_utf8_page_labelled_utf16_by_the_server_is_decoded_as_utf8(label):
    content = utf8_bytes(cafe_html())
    assert CAFE in decode_html(content, label)
    assert CAFE.strip() in extract_article(content, URL, label).text


@pytest.mark.parametrize("label", ["base64", "rot13", "hex", "zlib"])
def test_a_label_naming_a_codec_that_is_no_text_encoding_is_ignored(label):
    content = cafe_html().encode()
    assert CAFE in decode_html(content, label)
    assert CAFE.strip() in extract_article(content, URL, label).text


@pytest.mark.parametrize("label", ["utf-16", "utf-16le"])
def test_utf8_page_whose_meta_charset_says_utf16_is_decoded_as_utf8(label):
    content = utf8_bytes(cafe_html(meta_charset=label))
    assert CAFE in decode_html(content, None)
    assert CAFE.strip() in extract_article(content, URL, None).text


@pytest.mark.parametrize(("encoding", "bom", "declared", "story"), [
    pytest.param("utf-16-le", codecs.BOM_UTF16_LE, None, CAFE, id="16le-BOM"),
    pytest.param("utf-16-le", codecs.BOM_UTF16_LE, "utf-8", CAFE, id="16le-BOM-beats-label"),
    pytest.param("utf-16-le", b"", "utf-16le", CAFE, id="16le-labelled"),
    pytest.param("utf-16-le", b"", None, CAFE, id="16le-unlabelled"),  # the NUL bytes tell
    pytest.param("utf-16-le", b"", "utf-16le", HARBOUR, id="16le-chinese"),  # NULs in markup
    pytest.param("utf-16-be", codecs.BOM_UTF16_BE, "utf-16", CAFE, id="16be-BOM"),
    pytest.param("utf-16-be", b"", "utf-16be", HARBOUR, id="16be-chinese"),
    pytest.param("utf-32-le", codecs.BOM_UTF32_LE, None, CAFE, id="32le-BOM"),
    pytest.param("utf-32-be", b"", "utf-32", HARBOUR, id="32be-chinese"),
])
def test_a_real_utf16_or_utf32_page_is_decoded(encoding, bom, declared, story):
    content = bom + cafe_html(meta_charset="utf-16", story=story).encode(encoding)
    text = decode_html(content, declared)
    assert text.startswith("<html>") and story in text
    assert story.strip() in extract_article(content, URL, declared).text


def little_endian_samples() -> bytes:
    """16-bit binary data of small values: NUL high bytes, as ASCII has in UTF-16-LE."""
    rng = random.Random(16)
    return struct.pack("<4096H", *(rng.randrange(32) for _ in range(4096)))


@pytest.mark.parametrize(("content", "declared"), [
    pytest.param(random.Random(4).randbytes(100_000), None, id="random"),
    pytest.param(random.Random(4).randbytes(100_000), "utf-16", id="random-labelled-utf16"),
    pytest.param(b"%PDF-1.7\n\x00\x01\x02" + bytes(range(256)) * 40, "utf-16le", id="pdf"),
    pytest.param(bytes(8192) + b"<html><body><p>after the zeros</p></body></html>", None,
                 id="zero-filled"),
    pytest.param(little_endian_samples(), "utf-16le", id="16-bit-samples"),
    pytest.param(codecs.BOM_UTF16_LE + little_endian_samples(), None, id="16-bit-samples-BOM"),
])
def test_binary_garbage_is_still_refused(content, declared):
    with pytest.raises(ExtractionError, match="binary content"):
        extract_article(content, URL, declared)
