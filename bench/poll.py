"""Benchmark: poll 1,000 feeds of 20 entries each, twice, from a local server.

    .venv/bin/python bench/poll.py [--quick] [--feeds N] [--hosts H] [--db URL]

The feeds are served by a separate process on H loopback addresses (127.0.0.2, 127.0.0.3,
...: all loopback on Linux), so the per-host politeness rules (default: 2 requests at once
and 1 s between request starts per host, robots.txt per host, kept in the store so the second
poll does not ask again) stay ON and are measured as a crawler would meet them across many
publishers. Half the feeds send an ETag (the second poll
gets 304 Not Modified), half send no validators (the second poll is skipped by body hash).

Prints: wall time of the first poll (all new) and second poll (all unchanged), requests per
second as seen by the server, peak memory of the polling process (maxrss: tracemalloc
would slow the polls it measures), and the machine load. Targets on 2 cores: first <= 15 s,
second <= 5 s. Sends traffic to 127.0.0.0/8 only.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import resource
import sys
import tempfile
import time
from dataclasses import replace
from email.utils import formatdate
from pathlib import Path

from newspipe import pipeline
from newspipe.config import Settings
from newspipe.models import FeedSpec
from newspipe.store import open_store

ENTRIES_PER_FEED = 20


def feed_body(host: str, feed: int) -> bytes:
    items = "".join(
        f"<item><title>Story {feed}-{n} from {host}</title>"
        f"<link>http://{host}/news/{feed}/{n}.html?utm_source=rss</link>"
        f"<guid isPermaLink=\"false\">{host}-{feed}-{n}</guid>"
        f"<pubDate>{formatdate(1_600_000_000 + feed * 100 + n, usegmt=True)}</pubDate>"
        f"<description>Summary of story {n} of feed {feed}: a paragraph of text.</description>"
        f"</item>" for n in range(ENTRIES_PER_FEED))
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>Feed {feed} on {host}</title><link>http://{host}/</link>{items}"
            f"</channel></rss>").encode()


# --- the server: its own process, asyncio, HTTP/1.1 keep-alive -------------------------

async def _handle(reader, writer, host: str, counter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            request_line, *header_lines = head.decode("latin-1").split("\r\n")
            path = request_line.split(" ")[1]
            headers = {k.lower(): v.strip() for k, _, v in
                       (line.partition(":") for line in header_lines if line)}
            with counter.get_lock():
                counter.value += 1
            writer.write(_response(host, path, headers))
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


def _response(host: str, path: str, headers: dict[str, str]) -> bytes:
    extra = ""
    if path == "/robots.txt":
        status, body, content_type = "200 OK", b"User-agent: *\nAllow: /\n", "text/plain"
    elif path.startswith("/feed/"):
        feed = int(path.rsplit("/", 1)[1].split(".")[0])
        etag = f'"{host}-{feed}"'
        if feed % 2 == 0:
            extra = f"ETag: {etag}\r\n"
            if headers.get("if-none-match") == etag:
                return f"HTTP/1.1 304 Not Modified\r\n{extra}Content-Length: 0\r\n\r\n".encode()
        status, body, content_type = "200 OK", feed_body(host, feed), "application/rss+xml"
    else:
        status, body, content_type = "404 Not Found", b"", "text/plain"
    return (f"HTTP/1.1 {status}\r\nContent-Type: {content_type}; charset=utf-8\r\n{extra}"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


def serve(hosts: list[str], port_queue, counter) -> None:
    async def main() -> None:
        ports = []
        for host in hosts:
            server = await asyncio.start_server(
                lambda r, w, host=host: _handle(r, w, host, counter), host, 0, backlog=256)
            ports.append(server.sockets[0].getsockname()[1])
        port_queue.put(ports)
        await asyncio.Event().wait()
    asyncio.run(main())


# --- the client side: newspipe's own poll stage -----------------------------------------

def poll_once(store, settings: Settings, counter) -> tuple[float, int, pipeline.PollResult]:
    before = counter.value
    started = time.perf_counter()
    result = pipeline.poll_feeds(store, settings)
    return time.perf_counter() - started, counter.value - before, result


def maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="200 feeds on 100 hosts")
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--hosts", type=int, default=500)
    parser.add_argument("--db", default=None, help="store URL (default: a fresh SQLite file)")
    args = parser.parse_args()
    if args.quick:
        args.feeds, args.hosts = 200, 100
    hosts = [f"127.0.{(n + 2) // 256}.{(n + 2) % 256}" for n in range(args.hosts)]

    counter = multiprocessing.Value("q", 0)
    ports_queue = multiprocessing.Queue()
    server = multiprocessing.Process(target=serve, args=(hosts, ports_queue, counter),
                                     daemon=True)
    server.start()
    ports = ports_queue.get(timeout=60)

    workdir = Path(tempfile.mkdtemp(prefix="newspipe-bench-poll-"))
    database_url = args.db or f"sqlite:///{workdir / 'bench.db'}"
    store = open_store(database_url)
    settings = replace(Settings(), database_url=database_url, archive_dir=str(workdir / "warc"),
                       allow_private_hosts=("127.0.0.0/8",))
    urls = [f"http://{hosts[n % args.hosts]}:{ports[n % args.hosts]}/feed/{n}.xml"
            for n in range(args.feeds)]
    pipeline.register_feeds(store, [FeedSpec(url=u, name=u) for u in urls])

    print(f"newspipe bench/poll.py: {args.feeds} feeds x {ENTRIES_PER_FEED} entries on "
          f"{args.hosts} loopback hosts ({args.feeds / args.hosts:g} feeds/host), "
          f"store {store.dialect}")
    print(f"politeness: per-host concurrency {settings.per_host_concurrency}, per-host delay "
          f"{settings.per_host_delay_seconds:g} s, robots.txt obeyed, "
          f"max {settings.max_connections} connections")
    print(f"machine: {os.cpu_count()} cpus, load before: {os.getloadavg()[0]:.2f} "
          f"{os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")

    rss_before_mb = maxrss_mb()
    first_s, first_requests, first = poll_once(store, settings, counter)
    second_s, second_requests, second = poll_once(store, settings, counter)
    rss_after_mb = maxrss_mb()

    print(f"first poll:  {first_s:6.2f} s  {first_requests} requests "
          f"({first_requests / first_s:.0f} req/s), {len(first.new_entry_ids)} new entries, "
          f"{first.failed} failed   [target <= 15 s for 1,000 feeds]")
    print(f"second poll: {second_s:6.2f} s  {second_requests} requests "
          f"({second_requests / second_s:.0f} req/s), {second.unchanged} unchanged, "
          f"{len(second.new_entry_ids)} new, {second.failed} failed   [target <= 5 s]")
    print(f"peak memory (maxrss of the polling process): {rss_after_mb:.0f} MiB "
          f"({rss_after_mb - rss_before_mb:+.0f} MiB over the {rss_before_mb:.0f} MiB of the "
          f"interpreter and libraries before polling)")
    print(f"load after: {os.getloadavg()[0]:.2f}")
    server.terminate()
    store.dispose()
    ok = first.failed == 0 and second.failed == 0 and second.unchanged == args.feeds
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
