"""The raw archive: every feed and page response as WARC request/response records (warcio).

Each process appends to its own gzipped WARC file (one gzip member per record, so a record
can be read alone from its offset) and starts a new file past `archive_max_bytes`. An
article row keeps (file, offset) of its response record: re-extraction never refetches.
"""

from __future__ import annotations

import gzip
import os
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path
from typing import BinaryIO

from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from newspipe.dates import format_utc
from newspipe.models import FetchedPage


class ArchiveError(RuntimeError):
    """A WARC record that cannot be read back."""


@dataclass(frozen=True)
class RecordPointer:
    path: str  # absolute path of the WARC file
    offset: int  # where the response record's gzip member starts


@dataclass(frozen=True)
class ArchivedResponse:
    url: str
    status: int
    headers: dict[str, str]
    body: bytes  # content-decoded


# httpx hands us de-chunked bytes: a Transfer-Encoding header would make readers re-chunk.
_DROPPED_HEADERS = {"transfer-encoding"}
# warcio compresses at level 9. On the 600 pages of bench/backfill.py (43 MB) level 6 takes
# 0.71 s of CPU for 0.217 of the raw size, level 3 0.34 s for 0.240, level 1 0.28 s for
# 0.252: level 3 halves the cost of archiving every page for 10% more disk.
COMPRESSLEVEL = 3


class ArchiveWriter:
    def __init__(self, directory: str | os.PathLike, max_bytes: int = 1024**3):
        self.directory = Path(directory).resolve()
        self.max_bytes = max_bytes
        self._file: BinaryIO | None = None
        self._writer: WARCWriter | None = None

    def __enter__(self) -> ArchiveWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = self._writer = None

    def _open_file(self) -> None:
        self.close()
        self.directory.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
        name = f"newspipe-{stamp}-{os.getpid()}-{uuid.uuid4().hex[:8]}.warc.gz"
        self._file = (self.directory / name).open("ab")
        self._writer = WARCWriter(None, gzip=False)  # makes records; _append writes them
        self._append(self._writer.create_warcinfo_record(
            name, {"software": "newspipe", "format": "WARC File Format 1.1"}))

    def _append(self, record) -> int:
        """Write one record as a gzip member of its own (readable alone from its offset,
        as warcio writes them) and return that offset."""
        assert self._file is not None
        buffer = BytesIO()
        WARCWriter(buffer, gzip=False).write_record(record)
        offset = self._file.tell()
        self._file.write(gzip.compress(buffer.getvalue(), COMPRESSLEVEL, mtime=0))
        return offset

    def write(self, page: FetchedPage) -> RecordPointer:
        """Append the response (raw, still content-encoded) and its request; return where
        the response record starts."""
        if self._file is None or self._file.tell() > self.max_bytes:
            self._open_file()
        assert self._file is not None and self._writer is not None
        headers = [(k, v) for k, v in page.headers.items() if k.lower() not in _DROPPED_HEADERS]
        raw = page.raw_content if page.raw_content is not None else page.content
        http_headers = StatusAndHeaders(f"{page.status} {page.reason}".strip(), headers,
                                        protocol="HTTP/1.1")
        # An imported record keeps its crawl date; a live fetch is dated now.
        dated = {"WARC-Date": format_utc(page.fetched_at)} if page.fetched_at else {}
        response = self._writer.create_warc_record(
            page.final_url, "response", payload=BytesIO(raw), length=len(raw),
            http_headers=http_headers, warc_headers_dict=dated)
        offset = self._append(response)
        target = page.final_url.split("://", 1)[-1]
        path = "/" + target.split("/", 1)[1] if "/" in target else "/"
        request = self._writer.create_warc_record(
            page.final_url, "request", http_headers=StatusAndHeaders(
                f"GET {path}", list(page.request_headers.items()), protocol="HTTP/1.1",
                is_http_request=True),
            warc_headers_dict={"WARC-Concurrent-To":
                               response.rec_headers.get_header("WARC-Record-ID")})
        self._append(request)
        self._file.flush()  # another process (the extract task) may read it next
        return RecordPointer(str(self._file.name), offset)


def read_response(path: str, offset: int) -> ArchivedResponse:
    """The response record at `offset` of WARC file `path`, body content-decoded."""
    try:
        with open(path, "rb") as stream:
            stream.seek(offset)
            record = next(iter(ArchiveIterator(stream)), None)
            if record is None or record.rec_type != "response":
                raise ArchiveError(f"no response record at {path}:{offset}")
            body = record.content_stream().read()
            http = record.http_headers
            return ArchivedResponse(
                url=record.rec_headers.get_header("WARC-Target-URI"),
                status=int(http.get_statuscode() or 0),
                headers=dict(http.headers),
                body=body,
            )
    except (OSError, ArchiveLoadFailed) as exc:
        raise ArchiveError(f"cannot read WARC record {path}:{offset}: {exc}") from None
