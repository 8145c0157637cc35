"""The hardened client against a real HTTP server on 127.0.0.1: every way the web misbehaves."""

from __future__ import annotations

import asyncio
import gzip
import time
import zlib
from dataclasses import replace

import pytest

from fetch_server import Reply, TestServer
from newspipe.config import Settings
from newspipe.fetch.http import Fetcher, FetchError, acceptable_feed_type


@pytest.fixture
def server():
    with TestServer() as server:
        yield server


def settings(**overrides) -> Settings:
    base = Settings(allow_private_hosts=("127.0.0.1",), timeout_seconds=2.0,
                    total_timeout_seconds=5.0, retries=0, retry_backoff_seconds=0.05,
                    per_host_delay_seconds=0.0)
    return replace(base, **overrides)


def fetch(url: str, config: Settings | None = None, **kwargs):
    async def go():
        async with Fetcher(config or settings()) as fetcher:
            return await fetcher.fetch(url, **kwargs)
    return asyncio.run(go())


def fetch_all(urls: list[str], config: Settings):
    async def go():
        async with Fetcher(config) as fetcher:
            return await asyncio.gather(*(fetcher.fetch(u) for u in urls))
    return asyncio.run(go())


def test_a_page_arrives_with_our_user_agent(server):
    server.serve("/a.html", "<p>hello</p>")
    page = fetch(server.url("/a.html"), settings(user_agent="np-test (+https://x.test/c)"))
    assert page.status == 200 and page.content == b"<p>hello</p>"
    assert page.charset == "utf-8"
    assert server.hits("/a.html")[0].headers["User-Agent"] == "np-test (+https://x.test/c)"


def test_robots_txt_disallow_is_obeyed_and_cached(server):
    server.serve("/robots.txt", "User-agent: *\nDisallow: /private/\n", "text/plain")
    server.serve("/private/a.html", "secret")
    server.serve("/public.html", "ok")
    with pytest.raises(FetchError, match="disallowed by robots.txt"):
        fetch(server.url("/private/a.html"))
    assert server.hits("/private/a.html") == []
    fetch_all([server.url("/public.html")] * 3, settings())
    assert len(server.hits("/robots.txt")) == 2  # once per Fetcher (one per stage run)


def test_a_robots_txt_that_cannot_be_fetched_refuses_everything(server):
    server.routes["/robots.txt"] = lambda _: Reply(500, b"oops")
    server.serve("/a.html", "ok")
    with pytest.raises(FetchError, match="robots.txt unreachable"):
        fetch(server.url("/a.html"))
    assert server.hits("/a.html") == []


def test_429_retry_after_is_honoured(server):
    replies = iter([Reply(429, b"slow down", {"Retry-After": "1"}), Reply(200, b"<p>ok</p>")])
    server.routes["/busy.html"] = lambda _: next(replies)
    page = fetch(server.url("/busy.html"), settings(retries=2))
    assert page.content == b"<p>ok</p>"
    first, second = server.hits("/busy.html")
    assert second.at - first.at >= 0.9  # waited as asked, not the (shorter) backoff


def test_a_retry_after_longer_than_allowed_is_an_error_carrying_the_delay(server):
    server.routes["/busy.html"] = lambda _: Reply(429, b"", {"Retry-After": "3600"})
    with pytest.raises(FetchError, match="HTTP 429") as caught:
        fetch(server.url("/busy.html"), settings(retries=3))
    assert caught.value.retry_after == 3600
    assert len(server.hits("/busy.html")) == 1


def test_transient_errors_are_retried_permanent_ones_are_not(server):
    replies = iter([Reply(503, b""), Reply(502, b""), Reply(200, b"fine")])
    server.routes["/flaky.html"] = lambda _: next(replies)
    server.routes["/missing.html"] = lambda _: Reply(404, b"")
    assert fetch(server.url("/flaky.html"), settings(retries=2)).content == b"fine"
    with pytest.raises(FetchError, match="HTTP 404"):
        fetch(server.url("/missing.html"), settings(retries=2))
    assert len(server.hits("/missing.html")) == 1


def test_a_stalling_server_times_out(server):
    def stall(handler):
        handler.send_response(200)
        handler.send_header("Content-Length", "100")
        handler.end_headers()
        handler.wfile.write(b"x")
        handler.wfile.flush()
        time.sleep(3)
        return None
    server.routes["/stall.html"] = stall
    with pytest.raises(FetchError, match="timed out"):
        fetch(server.url("/stall.html"), settings(timeout_seconds=0.5))


def test_a_slow_drip_stops_at_the_total_time_limit(server):
    def drip(handler):
        handler.send_response(200)
        handler.send_header("Content-Type", "text/html")
        handler.end_headers()
        for _ in range(40):  # a byte every 0.1 s: never a read timeout, never done
            handler.wfile.write(b"x")
            handler.wfile.flush()
            time.sleep(0.1)
        return None
    server.routes["/drip.html"] = drip
    with pytest.raises(FetchError, match="no complete response within 1 s"):
        fetch(server.url("/drip.html"), settings(total_timeout_seconds=1.0))


def test_an_endless_body_stops_at_the_cap(server):
    def endless(handler):
        handler.send_response(200)
        handler.send_header("Content-Type", "text/html")
        handler.end_headers()
        chunk = b"x" * 65536
        while True:
            handler.wfile.write(chunk)
    server.routes["/endless.html"] = endless
    with pytest.raises(FetchError, match="larger than 1000000 bytes .stopped while streaming"):
        fetch(server.url("/endless.html"), settings(max_body_bytes=1_000_000))


def test_a_gzip_bomb_stops_at_the_cap_after_decompression(server):
    bomb = gzip_bomb(200)  # 200 MB of zeros in ~200 KB on the wire
    server.serve("/bomb.html", bomb, **{"Content-Encoding": "gzip"})
    with pytest.raises(FetchError, match="after decompression"):
        fetch(server.url("/bomb.html"), settings(max_body_bytes=1_000_000))


def gzip_bomb(megabytes: int) -> bytes:
    squeezer = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: a gzip container
    megabyte = b"\0" * 1_000_000
    return b"".join(squeezer.compress(megabyte) for _ in range(megabytes)) + squeezer.flush()


def test_gzip_bodies_are_decoded_and_kept_raw_for_the_archive(server):
    server.serve("/z.html", gzip.compress(b"<p>zipped</p>"), **{"Content-Encoding": "gzip"})
    page = fetch(server.url("/z.html"))
    assert page.content == b"<p>zipped</p>"
    assert gzip.decompress(page.raw_content) == b"<p>zipped</p>"


def test_a_redirect_loop_is_refused(server):
    server.routes["/a"] = lambda _: Reply(302, b"", {"Location": "/b"})
    server.routes["/b"] = lambda _: Reply(302, b"", {"Location": "/a"})
    with pytest.raises(FetchError, match="redirect loop"):
        fetch(server.url("/a"))


def test_too_many_redirects_are_refused(server):
    for n in range(10):
        server.routes[f"/r{n}"] = lambda _, n=n: Reply(301, b"", {"Location": f"/r{n + 1}"})
    with pytest.raises(FetchError, match="too many redirects"):
        fetch(server.url("/r0"), settings(max_redirects=3))
    assert len(server.hits("/r3")) == 1 and server.hits("/r4") == []


def test_redirects_are_followed_to_the_final_url(server):
    server.routes["/old"] = lambda _: Reply(301, b"", {"Location": "/new.html"})
    server.serve("/new.html", "<p>new</p>")
    page = fetch(server.url("/old"))
    assert page.url == server.url("/old") and page.final_url == server.url("/new.html")


@pytest.mark.parametrize("target", [
    "http://169.254.169.254/latest/meta-data/",  # cloud metadata: link-local
    "http://10.0.0.1/admin",
    "http://127.0.0.2:{port}/a.html",  # loopback, but not the allowed 127.0.0.1
    "file:///etc/passwd",
])
def test_a_redirect_to_a_private_address_or_other_scheme_is_refused(server, target):
    target = target.format(port=server.server_address[1])
    server.routes["/go"] = lambda _: Reply(302, b"", {"Location": target})
    server.serve("/a.html", "should never be read")
    with pytest.raises(FetchError, match="refusing"):
        fetch(server.url("/go"))
    assert server.hits("/a.html") == []


def test_private_hosts_are_refused_unless_allowed(server):
    server.serve("/a.html", "ok")
    with pytest.raises(FetchError, match="non-public address 127.0.0.1"):
        fetch(server.url("/a.html"), settings(allow_private_hosts=()))
    assert fetch(server.url("/a.html"), settings(allow_private_hosts=("127.0.0.0/8",)))


def test_unexpected_content_types_are_refused(server):
    server.serve("/photo.jpg", b"\xff\xd8", "image/jpeg")
    with pytest.raises(FetchError, match="unexpected content type 'image/jpeg'"):
        fetch(server.url("/photo.jpg"))
    server.serve("/feed", "<rss/>", "application/rss+xml")
    assert fetch(server.url("/feed"), accept=acceptable_feed_type).content == b"<rss/>"


def test_per_host_concurrency_and_delay(server):
    def slow(_):
        time.sleep(0.2)
        return Reply(200, b"ok")
    server.routes["/slow.html"] = slow
    fetch_all([server.url("/slow.html")] * 6, settings(per_host_concurrency=2))
    assert server.max_in_flight == 2

    server.log.clear()
    server.serve("/quick.html", "ok")
    fetch_all([server.url("/quick.html")] * 3, settings(per_host_delay_seconds=0.5))
    starts = sorted(s.at for s in server.hits("/quick.html"))
    assert all(b - a >= 0.45 for a, b in zip(starts, starts[1:], strict=False))


def test_a_host_that_asked_for_a_long_pause_is_not_asked_again_in_the_run(server):
    server.routes["/a.html"] = lambda _: Reply(503, b"", {"Retry-After": "3600"})
    server.serve("/b.html", "ok")

    async def go():
        async with Fetcher(settings(per_host_concurrency=1)) as fetcher:
            return await asyncio.gather(fetcher.fetch(server.url("/a.html")),
                                        fetcher.fetch(server.url("/b.html")),
                                        return_exceptions=True)
    first, second = asyncio.run(go())
    assert "Retry-After 3600" in str(first)
    assert "asked for a pause" in str(second) and second.retry_after > 3500
    assert server.hits("/b.html") == []


def test_the_connected_address_is_checked_too():
    """DNS rebinding: a name that passed the check but connects to a private address."""
    from newspipe.fetch.safety import UnsafeURL, check_peer

    check_peer("news.example", "93.184.216.34")
    with pytest.raises(UnsafeURL, match="connected to non-public address 10.1.2.3"):
        check_peer("news.example", "10.1.2.3")
    check_peer("intranet.test", "10.1.2.3", ["10.0.0.0/8"])
    check_peer("intranet.test", "10.1.2.3", ["intranet.test"])


def test_boolean_settings_from_the_environment():
    from newspipe.config import ConfigError, load_settings

    assert load_settings(env={"NEWSPIPE_OBEY_ROBOTS": "false"}).obey_robots is False
    assert load_settings(env={"NEWSPIPE_OBEY_ROBOTS": "yes"}).obey_robots is True
    with pytest.raises(ConfigError, match="not true or false"):
        load_settings(env={"NEWSPIPE_OBEY_ROBOTS": "maybe"})


@pytest.mark.parametrize("url, allowed", [
    ("https://[::1]/", False),
    ("http://[::ffff:10.0.0.1]/", False),  # IPv4-mapped IPv6
    ("http://0.0.0.0/", False),
    ("http://224.0.0.1/", False),  # multicast
    ("http://240.0.0.1/", False),  # reserved
    ("http://93.184.216.34/", True),
    ("ftp://93.184.216.34/", False),
    ("http:///nohost", False),
])
def test_url_safety_rules(url, allowed):
    from newspipe.fetch.safety import UnsafeURL, check_url

    if allowed:
        asyncio.run(check_url(url))
    else:
        with pytest.raises(UnsafeURL):
            asyncio.run(check_url(url))


def test_retry_after_as_seconds_or_http_date():
    from email.utils import formatdate

    from newspipe.fetch.http import parse_retry_after

    assert parse_retry_after("120") == 120
    assert 590 < parse_retry_after(formatdate(time.time() + 600, usegmt=True)) <= 600
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None
