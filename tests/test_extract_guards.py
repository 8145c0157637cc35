"""Pathological pages end with a recorded error in bounded time and memory, and the batch
goes on. Pages are generated here, never committed."""

from __future__ import annotations

import random
import resource

import pytest

from extract_helpers import article_rows, stored_article
from newspipe import pipeline
from newspipe.extract import ExtractionError, Limits, extract_article
from newspipe.extract.pool import ExtractionPool, Job

STORY = ("The harbour authority approved the new ferry terminal on Tuesday after a decade "
         "of debate among residents, fishermen and the regional council. ")
GOOD_PAGE = (f"<html><head><title>Ferry terminal approved</title></head><body><article>"
             f"<h1>Ferry terminal approved</h1>{''.join(f'<p>{STORY * 3}</p>' for _ in range(6))}"
             f"</article></body></html>").encode()
# Tight limits for the tests: a page needing more than 2 s is the "runs forever" case.
TEST_LIMITS = Limits(timeout_seconds=2.0)


def huge_page(megabytes: int = 100) -> bytes:
    chunk = b"<p>" + STORY.encode() + b"</p>"
    return b"<html><body>" + chunk * (megabytes * 2**20 // len(chunk)) + b"</body></html>"


def nested_page(levels: int = 100_000) -> bytes:
    return b"<html><body>" + b"<div>" * levels + b"deep" + b"</div>" * levels + b"</body></html>"


def many_elements_page(count: int = 100_000) -> bytes:
    return b"<html><body>" + b"<p>a b c</p>" * count + b"</body></html>"


def slow_page() -> bytes:
    """Under every size limit, yet several seconds of extraction: past TEST_LIMITS'."""
    paragraphs = "".join(f"<p>Paragraph {i}: {STORY}</p>" for i in range(40_000))
    return f"<html><body><article>{paragraphs}</article></body></html>".encode()


def binary_garbage() -> bytes:
    return random.Random(4).randbytes(1_000_000)


PATHOLOGICAL = {
    "huge": (huge_page(), "page too large"),
    "nested": (nested_page(), "page too deeply nested"),
    "many": (many_elements_page(), "page too complex"),
    "forever": (slow_page(), "timed out after 2 s"),
    "binary": (binary_garbage(), "binary content"),
    "empty": (b"", "empty page"),
    "blank": (b"  \r\n\t ", "empty page"),
}


def _children_peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024


def test_pool_records_each_pathological_page_and_goes_on():
    jobs = [Job(name, content, "http://127.0.0.1/a") for name, (content, _) in
            PATHOLOGICAL.items()] + [Job("good", GOOD_PAGE, "http://127.0.0.1/good")]
    with ExtractionPool(2, TEST_LIMITS) as pool:
        outcomes = {o.key: o for o in pool.extract(jobs)}
    for name, (_, expected) in PATHOLOGICAL.items():
        assert outcomes[name].article is None
        assert expected in outcomes[name].error, (name, outcomes[name].error)
    # The worker killed for the runaway page was replaced: the last page still extracts.
    assert outcomes["good"].error is None
    assert "ferry terminal" in outcomes["good"].article.text
    # The 100 MB page never reached a worker; none grew past a few hundred MB.
    assert _children_peak_rss() < 1024**3


def test_stage_records_failures_on_articles_and_extracts_the_rest(store):
    ids = {name: stored_article(store, name, content)
           for name, (content, _) in PATHOLOGICAL.items() if name != "huge"}
    ids["huge"] = stored_article(store, "huge", huge_page())
    ids["good"] = stored_article(store, "good", GOOD_PAGE)
    extracted = pipeline.extract_articles(store, jobs=2, limits=TEST_LIMITS)
    assert extracted == [ids["good"]]
    rows = article_rows(store)
    for name, (_, expected) in PATHOLOGICAL.items():
        assert rows[ids[name]].status == "failed"
        assert rows[ids[name]].error.startswith("extraction failed: ")
        assert expected in rows[ids[name]].error
    assert rows[ids["good"]].status == "extracted"
    # Re-running finds nothing left to do: failures are not retried forever.
    assert pipeline.extract_articles(store, jobs=1, limits=TEST_LIMITS) == []


def test_an_article_without_a_stored_page_is_recorded(store):
    article_id = stored_article(store, "pageless", None)
    assert pipeline.extract_articles(store, jobs=1) == []
    row = article_rows(store)[article_id]
    assert row.status == "failed" and "no stored page" in row.error


CAFE = "Le café où l'équipe a fêté la victoire était plein à craquer ce soir-là. " * 8


def cafe_page(encoding: str, meta_charset: str | None) -> bytes:
    meta = f'<meta charset="{meta_charset}">' if meta_charset else ""
    return (f"<html><head>{meta}<title>Fête</title></head><body><article><h1>Fête au café</h1>"
            f"{''.join(f'<p>{CAFE}</p>' for _ in range(4))}</article></body></html>"
            ).encode(encoding)


@pytest.mark.parametrize(("declared", "encoding", "meta"), [
    ("utf-8", "cp1252", "windows-1252"),  # the server claims UTF-8, the page says and is 1252
    ("iso-8859-1", "utf-8", None),        # the common mislabel: UTF-8 sent as Latin-1
    ("x-no-such-charset", "cp1252", "windows-1252"),  # a charset name nobody knows
    (None, "iso-8859-15", "iso-8859-15"),  # no HTTP charset: the page's own
    (None, "utf-8", None),                # nothing declared: detected
])
def test_wrong_or_missing_charset_is_recovered(declared, encoding, meta):
    article = extract_article(cafe_page(encoding, meta), "http://127.0.0.1/cafe", declared)
    assert CAFE.strip() in article.text


def test_undeclared_one_byte_charset_still_extracts():
    """Detection may pick a neighbouring one-byte charset: the text survives, accents aside."""
    article = extract_article(cafe_page("cp1252", None), "http://127.0.0.1/cafe", None)
    assert "victoire" in article.text and article.language == "fr"


def test_a_page_that_is_not_html_is_refused():
    with pytest.raises(ExtractionError, match="binary content"):
        extract_article(b"%PDF-1.7\n\x00\x01\x02" + bytes(range(256)) * 40, "http://127.0.0.1/x")
