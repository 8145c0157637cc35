"""`newspipe extract` as users run it: a real process on real files."""

from __future__ import annotations

import gzip
import json

from test_cli import newspipe
from test_extract_text import PARAGRAPHS, news_page

FIELDS = ("path", "url", "title", "author", "published_at", "language", "sitename", "text",
          "error")


def test_extract_writes_one_json_line_per_page(tmp_path):
    pages = tmp_path / "pages"
    (pages / "sub").mkdir(parents=True)
    head = ('<link rel="canonical" href="https://news.example/ferry">'
            '<meta property="article:published_time" content="2024-03-05T10:30:00+01:00">')
    (pages / "a.html").write_bytes(news_page(head=head))
    (pages / "sub" / "b.html.gz").write_bytes(gzip.compress(news_page()))
    (pages / "broken.html").write_bytes(bytes(range(256)) * 100)
    (pages / "notes.txt").write_text("not a page")

    run = newspipe("extract", "pages", "--output", "out.jsonl", "--jobs", "2", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "extracted 2 of 3 pages (1 failed" in run.stderr
    lines = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [tuple(line) for line in lines] == [FIELDS] * 3
    by_path = {line["path"]: line for line in lines}
    a, b = by_path["pages/a.html"], by_path["pages/sub/b.html.gz"]
    assert a["url"] == "https://news.example/ferry"
    assert a["published_at"] == "2024-03-05T09:30:00Z" and a["language"] == "en"
    assert a["error"] is None and PARAGRAPHS[1] in a["text"]
    assert b["title"] == "Ferry terminal approved" and PARAGRAPHS[2] in b["text"]
    broken = by_path["pages/broken.html"]
    assert broken["text"] is None and broken["error"].startswith("binary content")


def test_extract_to_stdout_with_a_given_url(tmp_path):
    (tmp_path / "page.html").write_bytes(news_page())
    run = newspipe("extract", "page.html", "--url", "https://news.example/x", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    [line] = [json.loads(line) for line in run.stdout.splitlines()]
    assert line["url"] == "https://news.example/x" and line["error"] is None


def test_extract_of_a_missing_path_is_a_one_line_error(tmp_path):
    run = newspipe("extract", "nowhere", cwd=tmp_path)
    assert run.returncode == 1
    assert run.stderr.strip() == "error: nowhere: no such file or directory"
