"""Polling and fetching through the stage functions, on SQLite and PostgreSQL, against a
real HTTP server on 127.0.0.1: conditional GET, body hash, feed health, the WARC archive,
canonical URLs."""

from __future__ import annotations

import gzip
import json
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from fetch_server import Reply, TestServer, rss
from newspipe import pipeline
from newspipe.config import Settings
from newspipe.fetch.feeds import FeedError, parse_feed
from newspipe.models import FeedSpec
from newspipe.store import repo
from newspipe.store.schema import articles, entries, feeds, robots_txt, utcnow


@pytest.fixture
def server():
    with TestServer() as server:
        yield server


@pytest.fixture
def settings(store, tmp_path) -> Settings:
    return Settings(database_url=store.url, allow_private_hosts=("127.0.0.1",),
                    timeout_seconds=2.0, retries=0, per_host_delay_seconds=0.0,
                    archive_dir=str(tmp_path / "warc"))


def add_feed(store, url: str) -> int:
    [feed_id] = pipeline.register_feeds(store, [FeedSpec(url=url, name="test")])
    return feed_id


def feed_row(store, feed_id: int):
    with store.connect() as connection:
        return connection.execute(select(feeds).where(feeds.c.id == feed_id)).one()


def test_etag_and_last_modified_give_304_not_modified(store, settings, server):
    body = rss("News", [("a", "/a.html"), ("b", "/b.html")], server.base_url)

    def conditional(handler):
        if handler.headers.get("If-None-Match") == '"v1"':
            return Reply(304, b"")
        return Reply(200, body.encode(), {"Content-Type": "application/rss+xml",
                                          "ETag": '"v1"',
                                          "Last-Modified": "Mon, 06 Sep 2021 10:00:00 GMT"})
    server.routes["/feed.xml"] = conditional
    feed_id = add_feed(store, server.url("/feed.xml"))

    first = pipeline.poll_feeds(store, settings)
    assert len(first.new_entry_ids) == 2
    row = feed_row(store, feed_id)
    assert (row.etag, row.last_modified) == ('"v1"', "Mon, 06 Sep 2021 10:00:00 GMT")

    second = pipeline.poll_feeds(store, settings)
    assert second.new_entry_ids == [] and second.unchanged == 1
    sent = server.hits("/feed.xml")[1].headers
    assert sent["If-None-Match"] == '"v1"'
    assert sent["If-Modified-Since"] == "Mon, 06 Sep 2021 10:00:00 GMT"
    row = feed_row(store, feed_id)
    assert row.last_status == 304 and row.etag == '"v1"' and row.consecutive_failures == 0


def test_an_unchanged_body_without_validators_is_skipped(store, settings, server):
    items = [("a", "/a.html")]
    server.routes["/feed.xml"] = lambda _: Reply(200, rss("News", items).encode(),
                                                 {"Content-Type": "application/xml"})
    add_feed(store, server.url("/feed.xml"))
    assert len(pipeline.poll_feeds(store, settings).new_entry_ids) == 1
    again = pipeline.poll_feeds(store, settings)
    assert again.unchanged == 1 and again.new_entry_ids == []
    items.append(("b", "/b.html"))
    changed = pipeline.poll_feeds(store, settings)
    assert changed.unchanged == 0 and len(changed.new_entry_ids) == 1


def test_a_failing_feed_backs_off_then_is_paused_with_its_reason(store, settings, server):
    server.routes["/feed.xml"] = lambda _: Reply(500, b"broken")
    feed_id = add_feed(store, server.url("/feed.xml"))
    settings = replace(settings, pause_after_failures=2, feed_backoff_seconds=60)

    assert pipeline.poll_feeds(store, settings).failed == 1
    row = feed_row(store, feed_id)
    assert row.consecutive_failures == 1 and "HTTP 500" in row.last_error
    assert row.next_poll_at > utcnow() + timedelta(seconds=50)
    assert not row.paused_reason
    assert pipeline.poll_feeds(store, settings).skipped == 1  # backing off
    assert len(server.hits("/feed.xml")) == 1

    with store.begin() as connection:  # the backoff has passed
        connection.execute(update(feeds).values(next_poll_at=utcnow() - timedelta(seconds=1)))
    assert pipeline.poll_feeds(store, settings).failed == 1
    row = feed_row(store, feed_id)
    assert row.paused_reason.startswith("paused after 2 consecutive failures; last: HTTP 500")
    with store.begin() as connection:
        connection.execute(update(feeds).values(next_poll_at=None))
    assert pipeline.poll_feeds(store, settings).skipped == 1  # paused: never silently dropped
    assert feed_row(store, feed_id).paused_reason

    server.serve("/feed.xml", rss("Back", [("a", "/a.html")]), "application/xml")
    with store.begin() as connection:
        repo.resume_feed(connection, feed_id)
    assert len(pipeline.poll_feeds(store, settings).new_entry_ids) == 1


def test_a_long_retry_after_defers_the_next_poll(store, settings, server):
    server.routes["/feed.xml"] = lambda _: Reply(429, b"", {"Retry-After": "7200"})
    feed_id = add_feed(store, server.url("/feed.xml"))
    assert pipeline.poll_feeds(store, settings).failed == 1
    assert feed_row(store, feed_id).next_poll_at > utcnow() + timedelta(seconds=7000)


def test_a_feed_whose_declared_charset_is_wrong(store, settings, server):
    title = "Новости дня"
    body = (f'<?xml version="1.0"?><rss version="2.0"><channel><title>{title}</title>'
            f"<item><title>{title}</title><link>/a.html</link></item></channel></rss>")
    server.serve("/feed.xml", body.encode("windows-1251"), "application/xml; charset=utf-8")
    feed_id = add_feed(store, server.url("/feed.xml"))
    [entry_id] = pipeline.poll_feeds(store, settings).new_entry_ids
    with store.connect() as connection:
        entry = connection.execute(select(entries).where(entries.c.id == entry_id)).one()
    assert entry.title == title and entry.url == server.url("/a.html")
    assert "declared as utf-8" in feed_row(store, feed_id).last_error  # recorded, kept


def test_pages_are_archived_in_warc_and_load_back_without_fetching(store, settings, server):
    page = "<html><head><title>T</title></head><body><p>Der Artikel.</p></body></html>"
    server.serve("/a.html", gzip.compress(page.encode()), **{"Content-Encoding": "gzip"})
    server.serve("/feed.xml", rss("News", [("a", "/a.html")], server.base_url),
                 "application/xml")
    add_feed(store, server.url("/feed.xml"))
    pipeline.poll_feeds(store, settings)
    [article_id] = pipeline.fetch_articles(store, settings)
    server.shutdown()  # from here on, nothing can be fetched again
    with store.connect() as connection:
        row, body = repo.load_page(connection, article_id)
    assert body.decode() == page
    assert row.final_url == row.url == server.url("/a.html") and row.charset == "utf-8"
    assert row.warc_file.startswith(settings.archive_dir) and row.warc_file.endswith(".warc.gz")
    records = archived_records(settings.archive_dir)
    for url in (server.url("/feed.xml"), server.url("/a.html")):  # feeds are archived too
        assert ("request", url) in records and ("response", url) in records


def archived_records(directory: str) -> list[tuple[str, str]]:
    from pathlib import Path

    from warcio.archiveiterator import ArchiveIterator

    found = []
    for path in sorted(Path(directory).glob("*.warc.gz")):
        with path.open("rb") as stream:
            found += [(r.rec_type, r.rec_headers.get_header("WARC-Target-URI"))
                      for r in ArchiveIterator(stream)]
    return found


def test_a_known_canonical_url_is_not_fetched_again(store, settings, server):
    canonical = server.url("/story.html")
    server.serve("/story.html", f'<html><head><link rel="canonical" href="{canonical}">'
                                "</head><body>story</body></html>")
    server.serve("/feed1.xml", rss("One", [("1", "/story.html?utm_source=rss&ref=feed1")],
                                   server.base_url), "application/xml")
    server.serve("/feed2.xml", rss("Two", [("2", "/story.html?at_medium=RSS#top"),
                                           ("3", "/story.html?ref=feed1&utm_medium=x")],
                                   server.base_url), "application/xml")
    add_feed(store, server.url("/feed1.xml"))
    pipeline.poll_feeds(store, settings)
    [article_id] = pipeline.fetch_articles(store, settings)
    add_feed(store, server.url("/feed2.xml"))
    pipeline.poll_feeds(store, settings)
    assert pipeline.fetch_articles(store, settings) == []
    assert len(server.hits("/story.html")) == 1
    with store.connect() as connection:
        assert set(connection.scalars(select(entries.c.article_id))) == {article_id}
        assert connection.scalar(select(articles.c.canonical_url)) == canonical


def test_a_cross_site_canonical_claim_is_ignored(store, settings, server):
    server.serve("/copy.html", '<html><head><link rel="canonical" '
                               'href="https://original.example/story"></head></html>')
    server.serve("/feed.xml", rss("N", [("c", "/copy.html")], server.base_url),
                 "application/xml")
    add_feed(store, server.url("/feed.xml"))
    pipeline.poll_feeds(store, settings)
    pipeline.fetch_articles(store, settings)
    with store.connect() as connection:
        assert connection.scalar(select(articles.c.canonical_url)) == server.url("/copy.html")


def test_a_page_disallowed_by_robots_is_a_failed_article_with_the_reason(store, settings,
                                                                        server):
    server.serve("/robots.txt", "User-agent: *\nDisallow: /no/\n", "text/plain")
    server.serve("/no/a.html", "x")
    server.serve("/feed.xml", rss("N", [("a", "/no/a.html")], server.base_url),
                 "application/xml")
    add_feed(store, server.url("/feed.xml"))
    pipeline.poll_feeds(store, settings)
    assert pipeline.fetch_articles(store, settings) == []
    with store.connect() as connection:
        row = connection.execute(select(articles)).one()
    assert row.status == "failed" and "disallowed by robots.txt" in row.error
    assert server.hits("/no/a.html") == []


def test_an_unusable_feed_is_a_clear_error_and_others_go_on(store, settings, server):
    server.serve("/page.html", "<html><body>not a feed</body></html>")
    server.serve("/feed.xml", rss("N", [("a", "/a.html")]), "application/xml")
    bad = add_feed(store, server.url("/page.html"))
    add_feed(store, server.url("/feed.xml"))
    result = pipeline.poll_feeds(store, settings)
    assert result.failed == 1 and len(result.new_entry_ids) == 1
    assert feed_row(store, bad).last_error.startswith("not a feed")


def test_a_web_page_added_as_a_feed_names_the_feeds_it_links_to(store, settings, server):
    """A site's home page is a common mistake for its feed: the error says which to add."""
    server.serve("/", '<html><head><link rel="alternate" type="application/rss+xml" '
                      'href="/rss/world.xml" title="World"><link rel="alternate" '
                      'type="application/atom+xml" href="https://cdn.example.org/all.atom">'
                      '</head><body><p>Home page</p></body></html>')
    home = add_feed(store, server.url("/"))
    assert pipeline.poll_feeds(store, settings).failed == 1
    assert feed_row(store, home).last_error == (
        "not a feed but a web page naming 2 feed(s): "
        f"{server.url('/rss/world.xml')}, https://cdn.example.org/all.atom: "
        "add one of those instead")
    with pytest.raises(FeedError, match="not a feed: no RSS"):  # a saved file: no address
        parse_feed(b"<html><head><link rel=alternate type=application/rss+xml href=/r.xml>"
                   b"</head><body><p>x</p></body></html>", "file:///tmp/home.html")


@pytest.mark.parametrize("link, expected", [
    ("https://www.google.com/url?rct=j&sa=t&url=https://news.example/a%3Fb%3D1&ct=ga",
     "https://news.example/a?b=1"),
    ("/relative/path.html", "https://site.example/relative/path.html"),
])
def test_entry_links_are_absolute_and_unwrapped(link, expected):
    body = (f'<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title><entry><id>x</id>'
            f'<title>e</title><link href="{link.replace("&", "&amp;")}"/>'
            f"<updated>2021-06-17T10:00:00+02:00</updated></entry></feed>")
    [entry] = parse_feed(body.encode(), "https://site.example/feed").entries
    assert entry.url == expected
    assert entry.published_at.isoformat() == "2021-06-17T08:00:00+00:00"


def test_repeated_guids_fall_back_to_the_link():
    body = rss("N", [("same", "https://a.example/1"), ("same", "https://a.example/2?utm_x=1")])
    parsed = parse_feed(body.encode(), "https://a.example/feed")
    assert [e.key for e in parsed.entries] == ["same", "https://a.example/2"]
    assert any("used by several entries" in p for p in parsed.problems)


def test_every_shared_feeds_dev_file_parses_or_fails_clearly():
    from conftest import shared_data

    root = shared_data("feeds-dev")
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix != ".md")
    usable = 0
    for path in files:
        try:
            parsed = parse_feed(path.read_bytes(), "https://example.org/feed")
        except FeedError as exc:
            assert str(exc), path
            continue
        usable += bool(parsed.entries)
        for entry in parsed.entries:
            assert entry.key and entry.url.startswith(("http://", "https://")), (path, entry)
            assert entry.published_at is None or entry.published_at.utcoffset() == timedelta(0)
    assert usable >= len(files) - 3


def test_every_shared_feeds_dev_file_polls_over_http(sqlite_url, tmp_path, server):
    from conftest import shared_data
    from newspipe.store import open_store

    root = shared_data("feeds-dev")
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix != ".md")
    for number, path in enumerate(files):
        server.serve(f"/{number}", path.read_bytes(), "application/xml")
    store = open_store(sqlite_url)
    settings = Settings(database_url=sqlite_url, allow_private_hosts=("127.0.0.1",),
                        per_host_delay_seconds=0.0, archive_dir=str(tmp_path / "warc"))
    pipeline.register_feeds(store, [FeedSpec(url=server.url(f"/{n}"), name=p.name)
                                    for n, p in enumerate(files)])
    result = pipeline.poll_feeds(store, settings)
    assert result.feeds == len(files) and result.failed <= 2
    assert len(result.new_entry_ids) > 500
    with store.connect() as connection:
        failed = [row for row in repo.feed_rows(connection) if row.consecutive_failures]
    assert all(row.last_error for row in failed)
    store.dispose()


def test_robots_txt_is_kept_in_the_store_between_runs(store, settings, server):
    server.serve("/robots.txt", "User-agent: *\nDisallow: /private/\n", "text/plain")
    server.serve("/feed.xml", rss("N", [("a", "/a.html")]), "application/xml")
    add_feed(store, server.url("/feed.xml"))
    pipeline.poll_feeds(store, settings)
    pipeline.poll_feeds(store, settings)
    assert len(server.hits("/robots.txt")) == 1 and len(server.hits("/feed.xml")) == 2

    with store.begin() as connection:  # expired: asked again
        connection.execute(update(robots_txt).values(expires_at=utcnow()))
    pipeline.poll_feeds(store, settings)
    assert len(server.hits("/robots.txt")) == 2


def test_stages_run_from_inside_a_running_event_loop(store, settings, server):
    """A notebook or an async host calls the stage functions with its own loop running."""
    import asyncio

    server.serve("/feed.xml", rss("N", [("a", "/a.html")]), "application/xml")
    add_feed(store, server.url("/feed.xml"))

    async def host():
        return pipeline.poll_feeds(store, settings)
    assert len(asyncio.run(host()).new_entry_ids) == 1


def test_a_json_feed_with_odd_values_keeps_its_usable_items():
    body = (b'{"version": "https://jsonfeed.org/version/1.1", "items": [1, {"id": 2}, '
            b'{"url": "/a", "title": ["x"], "date_published": 7},'
            b'{"url": "/b", "authors": [{"name": "A"}], '
            b'"date_published": "2021-06-17T10:00:00+02:00"}]}')
    parsed = parse_feed(body, "https://x.example/feed.json")
    assert parsed.format == "json1.1"
    assert [e.url for e in parsed.entries] == ["https://x.example/a", "https://x.example/b"]
    assert parsed.entries[1].author == "A"
    assert parsed.entries[1].published_at.isoformat() == "2021-06-17T08:00:00+00:00"
    assert len(parsed.problems) == 2


def test_entry_summaries_are_text_and_images_are_found():
    """Feeds' HTML summaries become text (the description fallback, and the teaser the
    page's repeat is trimmed against); the lead image from Media RSS or an enclosure."""
    feed = parse_feed(b"""<?xml version="1.0"?>
<rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/"><channel><title>T</title>
<item><title>A</title><link>https://news.example.org/a</link>
<description>&lt;p&gt;Ferry &lt;b&gt;terminal&lt;/b&gt; approved.&lt;/p&gt;&lt;img src="x.jpg"&gt;
&lt;p&gt;Work starts in spring.&lt;/p&gt;</description>
<media:content url="/img/a.jpg" medium="image"/></item>
<item><title>B</title><link>https://news.example.org/b</link>
<description>Plain &lt; text</description>
<media:thumbnail url="https://cdn.example.org/b-thumb.png"/></item>
<item><title>C</title><link>https://news.example.org/c</link>
<enclosure url="https://cdn.example.org/c.mp3" type="audio/mpeg" length="1"/>
<enclosure url="https://cdn.example.org/c.webp" type="image/webp" length="1"/></item>
<item><title>D</title><link>https://news.example.org/d</link>
<description>&lt;style&gt;.x{color:red}&lt;/style&gt;&lt;script&gt;var a=1;&lt;/script&gt;One
line&lt;br&gt;and the next</description>
<media:content url="javascript:alert(1)" medium="image"/>
<media:thumbnail url="http://[broken/x.jpg"/></item>
<item><title>E</title><link>http://[broken/e.html</link></item>
</channel></rss>""", "https://news.example.org/rss")
    a, b, c, d = feed.entries  # E's link is unusable: skipped, with the problem said
    assert any("http://[broken/e.html" in problem for problem in feed.problems)
    assert d.summary == "One line and the next"
    assert a.summary == "Ferry terminal approved. Work starts in spring."
    assert a.image == "https://news.example.org/img/a.jpg"
    assert b.image == "https://cdn.example.org/b-thumb.png"
    assert c.image == "https://cdn.example.org/c.webp" and c.summary is None
    assert d.image is None
    json_feed = parse_feed(json.dumps({
        "version": "https://jsonfeed.org/version/1.1", "items": [
            {"id": "1", "url": "https://news.example.org/j", "image": "/j.jpg"},
            {"id": "2", "url": "https://news.example.org/k", "image": "http://[x/k.jpg",
             "date_published": "0001-01-01T00:00:00+01:00"}]}).encode(),
        "https://news.example.org/feed.json")
    assert json_feed.entries[0].image == "https://news.example.org/j.jpg"
    assert (json_feed.entries[1].image, json_feed.entries[1].published_at) == (None, None)


def test_a_feed_the_parsers_choke_on_fails_alone(monkeypatch):
    """Whatever a parser raises on hostile bytes is the feed's error, not the poll's."""
    def choke(*args, **kwargs):
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr("newspipe.fetch.feeds.feedparser.parse", choke)
    with pytest.raises(FeedError, match="feed could not be parsed: RecursionError"):
        parse_feed(b"<rss/>", "https://news.example.org/rss")


def test_an_article_keeps_the_feeds_description_and_image_where_its_page_has_none(
        store, settings, server):
    paragraph = "The harbour authority approved the new ferry terminal after long debate. " * 4
    server.serve("/feed.xml", f"""<?xml version="1.0"?>
<rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/"><channel><title>T</title>
<item><title>Ferry</title><guid>1</guid><link>{server.url('/ferry.html')}</link>
<description>&lt;p&gt;The &lt;b&gt;ferry&lt;/b&gt; terminal is approved.&lt;/p&gt;</description>
<media:content url="/img/ferry.jpg" medium="image"/></item>
<item><title>Bridge</title><guid>2</guid><link>{server.url('/bridge.html')}</link>
<description>The feed's teaser.</description>
<media:content url="/img/feed-bridge.jpg" medium="image"/></item></channel></rss>""",
                 "application/rss+xml")
    server.serve("/ferry.html", f"<html><head><title>Ferry</title></head><body><article>"
                                f"<p>{paragraph}</p></article></body></html>")
    server.serve("/bridge.html", '<html><head><title>Bridge</title><meta name="description" '
                                 'content="The page\'s own description."><meta '
                                 'property="og:image" content="/img/page-bridge.jpg"></head>'
                                 f"<body><article><p>{paragraph}</p></article></body></html>")
    add_feed(store, server.url("/feed.xml"))
    pipeline.poll_feeds(store, settings)
    pipeline.fetch_articles(store, settings)
    pipeline.extract_articles(store, jobs=1)
    with store.connect() as connection:
        rows = {r.title: r for r in connection.execute(select(articles))}
    assert rows["Ferry"].status == "extracted"
    assert rows["Ferry"].description == "The ferry terminal is approved."
    assert rows["Ferry"].image == server.url("/img/ferry.jpg")
    assert rows["Bridge"].description == "The page's own description."
    assert rows["Bridge"].image == server.url("/img/page-bridge.jpg")
