"""What newspipe adds to trafilatura: structured-data filtering, headline/teaser repeats,
learned per-site boilerplate, metadata in UTC, language identification."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import lxml.html
import trafilatura.utils
from lxml import etree

from extract_helpers import article_rows, stored_article
from newspipe import pipeline
from newspipe.extract import FeedHints, extract_article
from newspipe.extract.cleanup import learn_boilerplate, remove_boilerplate, trim_repeats
from newspipe.extract.core import load_html, strip_non_content
from newspipe.extract.metadata import drop_site_from_authors, strip_site_from_title
from newspipe.store.schema import articles

PARAGRAPHS = [
    "The harbour authority approved the new ferry terminal on Tuesday after a decade of "
    "debate among residents, fishermen and the regional council of the northern coast.",
    "Construction is due to begin in the spring, with the first crossings to the islands "
    "planned for the summer of the following year, the authority's chairwoman said.",
    "Opponents had argued that the terminal would disturb the seal colony on the sandbanks, "
    "but an independent study found that the animals had moved further north years ago.",
]
PLEA = "Support independent journalism: subscribe today for just one euro a week."


def news_page(*, json_ld: dict | None = None, extra: str = "", head: str = "",
              paragraphs: list[str] = PARAGRAPHS) -> bytes:
    script = (f'<script type="application/ld+json">{json.dumps(json_ld)}</script>'
              if json_ld else "")
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (f"<html><head><title>Ferry terminal approved</title>{head}{script}</head><body>"
            f"<article><h1>Ferry terminal approved</h1>{body}<p>{extra}</p></article>"
            f"</body></html>").encode()


def test_structured_article_body_removes_what_it_lacks():
    json_ld = {"@context": "https://schema.org", "@type": "NewsArticle",
               "headline": "Ferry terminal approved", "articleBody": "\n".join(PARAGRAPHS)}
    bare = extract_article(news_page(extra=PLEA), "http://127.0.0.1/ferry")
    assert PLEA in bare.text
    article = extract_article(news_page(json_ld=json_ld, extra=PLEA), "http://127.0.0.1/ferry")
    assert PLEA not in article.text
    assert all(p in article.text for p in PARAGRAPHS)


def test_a_teaser_articlebody_is_not_trusted():
    json_ld = {"@type": ["NewsArticle"], "articleBody": PARAGRAPHS[0][:80]}
    article = extract_article(news_page(json_ld=json_ld), "http://127.0.0.1/ferry")
    assert all(p in article.text for p in PARAGRAPHS)


def test_headline_and_repeated_teaser_are_trimmed():
    text = "\n".join(["Ferry terminal approved", PARAGRAPHS[0], PARAGRAPHS[1], PARAGRAPHS[0]])
    trimmed = trim_repeats(text, "Ferry Terminal Approved", [PARAGRAPHS[0]])
    assert trimmed.splitlines() == [PARAGRAPHS[0], PARAGRAPHS[1]]
    # Lines that only repeat by coincidence of no teaser stay.
    assert trim_repeats("a b\nc d\na b", None) == "a b\nc d\na b"


def test_feed_summary_repeated_in_the_page_appears_once():
    teaser = PARAGRAPHS[0]
    page = news_page(paragraphs=[teaser, *PARAGRAPHS[1:], teaser])
    article = extract_article(page, "http://127.0.0.1/ferry",
                              hints=FeedHints(title="Ferry terminal approved", summary=teaser))
    assert article.text.count(teaser) == 1


def test_boilerplate_is_learned_from_lines_recurring_across_a_sites_articles():
    texts = [f"Story number {i} about something else entirely.\n{PLEA}" for i in range(10)]
    learned = learn_boilerplate(texts)
    assert learned == {"support independent journalism subscribe today for just one euro a "
                       "week"}
    assert remove_boilerplate(f"A new story.\n{PLEA}", learned)[0] == "A new story."
    # Too few articles to tell boilerplate from a story's own lines.
    assert learn_boilerplate(texts[:3]) == frozenset()


def test_metadata_dates_are_utc_and_language_is_identified():
    head = ('<meta property="article:published_time" content="2024-03-05T10:30:00+01:00">'
            '<meta property="article:modified_time" content="2024-03-06T08:00:00-05:00">')
    german = ["Die Hafenbehörde hat am Dienstag nach jahrzehntelanger Debatte zwischen "
              "Anwohnern, Fischern und dem Regionalrat das neue Fährterminal genehmigt."] * 3
    article = extract_article(news_page(head=head, paragraphs=german), "http://127.0.0.1/fähre")
    assert article.published_at == datetime(2024, 3, 5, 9, 30, tzinfo=UTC)
    assert article.updated_at == datetime(2024, 3, 6, 13, 0, tzinfo=UTC)
    assert article.language == "de"
    assert article.title == "Ferry terminal approved"


def test_stage_removes_boilerplate_learned_from_the_feeds_stored_articles(store):
    for i in range(6):
        story = [f"Story {i}: " + p for p in PARAGRAPHS]
        stored_article(store, f"old{i}", news_page(paragraphs=story, extra=PLEA))
    pipeline.extract_articles(store, jobs=1)
    assert all(PLEA in row.text for row in article_rows(store).values())

    new_id = stored_article(store, "new", news_page(extra=PLEA))
    assert pipeline.extract_articles(store, jobs=1) == [new_id]
    row = article_rows(store)[new_id]
    assert PLEA not in row.text and PARAGRAPHS[2] in row.text
    # The feed entry's title stays where the page has one of its own.
    assert row.title == "Ferry terminal approved"
    with store.connect() as connection:
        assert connection.scalar(articles.select().with_only_columns(
            articles.c.status).where(articles.c.id == new_id)) == "extracted"


def test_the_site_name_is_taken_off_the_title():
    assert strip_site_from_title("Ferry approved | The Coast Herald", "The Coast Herald",
                                 "https://coastherald.example/a") == "Ferry approved"
    assert strip_site_from_title("Ferry approved - coastherald.example", None,
                                 "https://www.coastherald.example/a") == "Ferry approved"
    # A subtitle is not a site name.
    assert strip_site_from_title("Ferry approved: what it means for the islands",
                                 "The Coast Herald", "https://coastherald.example/a") == \
        "Ferry approved: what it means for the islands"


def test_broken_structured_data_is_ignored():
    head = ('<script type="application/ld+json">{"@type": "NewsArticle", broken</script>'
            '<script type="application/ld+json">' + "[" * 100_000 + "]" * 100_000 + "</script>")
    article = extract_article(news_page(head=head), "http://127.0.0.1/ferry")
    assert all(p in article.text for p in PARAGRAPHS)


def test_the_publisher_is_not_listed_among_the_authors():
    url = "https://coastherald.example/a"
    assert drop_site_from_authors("The Coast Herald; Jane Doe", "The Coast Herald", url) == \
        "Jane Doe"
    assert drop_site_from_authors("Coast Herald", None, url) == "Coast Herald"


def test_pages_parse_as_trafilaturas_load_html_parses_them():
    """newspipe parses with its own parser (element classes looked up in C): the same trees
    as trafilatura's `load_html`, including its fallbacks."""
    page = news_page().decode()
    cases = {
        "page": page,
        "xml declaration in text": '<?xml version="1.0" encoding="utf-8"?>\n' + page,
        "self-closing html": "<!DOCTYPE html>\n<html/>\n<body><p>" + PARAGRAPHS[0] + "</p></body>",
        "plain text": "just a line of text, not a page",
        "control characters": page.replace("Tuesday", "Tues\x0bday"),
    }
    for name, text in cases.items():
        ours, theirs = load_html(text), trafilatura.utils.load_html(text)
        assert (ours is None) == (theirs is None), name
        if ours is not None:
            assert etree.tostring(ours) == etree.tostring(theirs), name
            assert all(isinstance(e, lxml.html.HtmlElement) for e in ours.iter(etree.Element)), name


def test_a_lead_image_is_absolute_and_a_malformed_one_is_dropped():
    relative = news_page(head='<meta property="og:image" content="/img/ferry.jpg">')
    assert extract_article(relative, "http://127.0.0.1/ferry").image == \
        "http://127.0.0.1/img/ferry.jpg"
    broken = news_page(head='<meta property="og:image" content="http://[bad/img.jpg">')
    article = extract_article(broken, "http://127.0.0.1/ferry")  # the text is not lost
    assert article.image is None and PARAGRAPHS[0] in article.text


def test_what_never_holds_article_text_is_removed_before_trafilatura():
    """Scripts, styles, the head's tags, footers, asides, inline SVG, iframes and form
    controls go (their tails stay); the JSON-LD script, the article and <nav> stay."""
    json_ld = {"@type": "NewsArticle", "articleBody": "\n".join(PARAGRAPHS)}
    page = news_page(json_ld=json_ld, head='<meta name="x" content="y"><style>p{}</style>',
                     extra='Before <button>Share</button>after <select><option>Pick</option>'
                           '</select><label>Name</label><input name="q"> <svg><text>Icon'
                           '</text></svg><iframe src="/v"></iframe><script>var a;</script>end')
    tree = load_html(page.decode().replace(
        "</article>", "</article><aside>Most read</aside><nav>Menu</nav>"
                      "<footer>Copyright</footer><noscript>Enable JS</noscript>"))
    strip_non_content(tree)
    remaining = etree.tostring(tree, encoding="unicode")
    for gone in ("Share", "Pick", "Name", "Icon", "<iframe", "var a", "Most read", "Copyright",
                 "Enable JS", "<meta", "<title", "<style", "<input"):
        assert gone not in remaining, gone
    for kept in ("application/ld+json", "Menu", "Before", "after", "end", PARAGRAPHS[2]):
        assert kept in remaining, kept
    article = extract_article(page, "http://127.0.0.1/ferry")
    assert article.title == "Ferry terminal approved"  # read before the head went
    assert all(p in article.text for p in PARAGRAPHS)
