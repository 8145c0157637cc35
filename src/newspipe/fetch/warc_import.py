"""Pages from WARC files (e.g. Common Crawl's CC-NEWS), read with warcio: each HTML
response record becomes the FetchedPage a live fetch would have produced."""

from __future__ import annotations

import io
import os
from collections.abc import Iterable, Iterator
from datetime import datetime

from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from newspipe.dates import format_utc, parse_utc
from newspipe.fetch.http import charset_of
from newspipe.models import FetchedPage

HTML_TYPES = ("text/html", "application/xhtml+xml")
_WIRE_ENCODING_HEADERS = {"content-encoding", "transfer-encoding", "content-length"}


class WarcError(ValueError):
    """A WARC file that cannot be read; the message names the file and the reason."""


def read_html_responses(path: str | os.PathLike) -> Iterator[FetchedPage]:
    """HTML responses with status 200 (gzipped or plain WARC); other records are skipped."""
    try:
        with open(path, "rb") as stream:
            for record in ArchiveIterator(stream):
                page = _html_page(record)
                if page is not None:
                    yield page
    except (OSError, ArchiveLoadFailed, ValueError) as exc:
        raise WarcError(f"WARC file {os.fspath(path)}: {' '.join(str(exc).split())}") from None


def _html_page(record) -> FetchedPage | None:
    if record.rec_type != "response" or record.http_headers is None:
        return None
    status = int(record.http_headers.get_statuscode() or 0)
    content_type = record.http_headers.get_header("Content-Type")
    if status != 200 or not (content_type or "").lower().startswith(HTML_TYPES):
        return None
    url = record.rec_headers.get_header("WARC-Target-URI")
    if not url:
        return None
    # The body is read decoded: headers describing the encoding on the wire no longer apply.
    headers = {k: v for k, v in record.http_headers.headers
               if k.lower() not in _WIRE_ENCODING_HEADERS}
    return FetchedPage(url=url, final_url=url, status=status,
                       content=record.content_stream().read(), content_type=content_type,
                       charset=charset_of(content_type), headers=headers, reason="OK",
                       fetched_at=parse_utc(record.rec_headers.get_header("WARC-Date")))


def write_html_warc(path: str | os.PathLike, pages: Iterable[tuple[str, bytes]],
                    crawled_at: datetime | None = None) -> int:
    """Write (url, html) pairs as a gzipped WARC of 200 responses (dated `crawled_at`, else
    now): the reader's counterpart, for tests, benchmarks and hand-made backfills. Returns
    the number of records."""
    dated = {"WARC-Date": format_utc(crawled_at)} if crawled_at else {}
    count = 0
    with open(path, "wb") as stream:
        writer = WARCWriter(stream, gzip=True)
        for url, html in pages:
            headers = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8"),
                                                  ("Content-Length", str(len(html)))],
                                       protocol="HTTP/1.1")
            writer.write_record(writer.create_warc_record(
                url, "response", payload=io.BytesIO(html), http_headers=headers,
                warc_headers_dict=dict(dated)))
            count += 1
    return count
