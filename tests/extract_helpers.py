"""Helpers of the extraction tests: articles stored as the fetch stage leaves them."""

from __future__ import annotations

import os

from newspipe.fetch.archive import ArchiveWriter
from newspipe.models import FeedSpec, FetchedPage, ParsedEntry
from newspipe.store import repo
from newspipe.store.schema import articles


def stored_article(store, name: str, content: bytes | None) -> int:
    """A fetched article through the pipeline's own write API, as the fetch stage leaves it."""
    url = f"http://127.0.0.1/{name}"
    with store.begin() as connection:
        [feed_id] = repo.upsert_feeds(connection, [FeedSpec(url="http://127.0.0.1/feed",
                                                            name="test feed")])
        [entry_id] = repo.insert_new_entries(
            connection, feed_id, [(ParsedEntry(key=name, url=url, title=f"About {name}"), url)])
        [entry] = repo.pending_entries(connection, [entry_id])
        new = repo.NewArticle(entry, url, "fetched", http_status=200)
        if content is not None:
            new.page = FetchedPage(url=url, final_url=url, status=200, content=content,
                                   content_type="text/html", charset="utf-8")
            with ArchiveWriter(os.environ["NEWSPIPE_ARCHIVE_DIR"]) as archive:
                new.pointer = archive.write(new.page)
        (article_id,) = repo.create_articles(connection, [new])
    return article_id


def article_rows(store) -> dict:
    with store.connect() as connection:
        return {row.id: row for row in connection.execute(articles.select())}
