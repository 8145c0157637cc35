"""`newspipe feeds ...` and `newspipe poll` as users run them: a real process."""

from __future__ import annotations

import json

import pytest

from fetch_server import TestServer, rss
from test_cli import newspipe


@pytest.fixture
def server():
    with TestServer() as server:
        yield server


def test_feeds_check_a_file_as_json(tmp_path):
    (tmp_path / "feed.xml").write_text(rss("News", [("g1", "https://n.example/a?utm_source=x")]))
    result = newspipe("feeds", "check", "feed.xml", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["title"] == "News" and data["format"] == "rss20" and data["problems"] == []
    assert data["entries"] == [{"key": "g1", "url": "https://n.example/a?utm_source=x",
                                "title": "g1", "published_at": "2021-09-06T08:17:00Z"}]


def test_feeds_check_a_url_through_the_polite_client(tmp_path, server):
    server.serve("/feed.xml", rss("Remote", [("g", "/a.html")], server.base_url),
                 "application/xml")
    (tmp_path / "local.toml").write_text('[newspipe]\nallow_private_hosts = ["127.0.0.1"]\n')
    result = newspipe("feeds", "check", server.url("/feed.xml"), "--json", "-c", "local.toml",
                      cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["entries"][0]["url"] == server.url("/a.html")
    refused = newspipe("feeds", "check", server.url("/feed.xml"), cwd=tmp_path)
    assert refused.returncode == 1 and "non-public address" in refused.stderr


@pytest.mark.parametrize("content, message", [
    ("<html><body>a web page</body></html>", "not a feed"),
    ("", "not a feed"),
    ('{"no": "items"}', "not a JSON Feed"),
])
def test_feeds_check_an_unusable_feed_is_one_line_and_exit_1(tmp_path, content, message):
    (tmp_path / "bad.xml").write_text(content)
    result = newspipe("feeds", "check", "bad.xml", "--json", cwd=tmp_path)
    assert result.returncode == 1 and result.stdout == ""
    assert message in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_feeds_add_poll_list_remove(tmp_path, server):
    server.serve("/feed.xml", rss("News", [("a", "/a.html"), ("b", "/b.html")],
                                  server.base_url), "application/xml")
    server.serve("/gone.xml", "", status=410)
    env = {"NEWSPIPE_ALLOW_PRIVATE_HOSTS": "127.0.0.1", "NEWSPIPE_RETRIES": "0"}
    db = ("--db", "sqlite:///feeds.db")
    for url in (server.url("/feed.xml"), server.url("/gone.xml")):
        added = newspipe("feeds", "add", url, "--role", "wire", *db, cwd=tmp_path, env=env)
        assert added.returncode == 0, added.stderr

    polled = newspipe("poll", *db, cwd=tmp_path, env=env)
    assert polled.returncode == 0, polled.stderr
    assert "2 new entries" in polled.stderr and "1 failed" in polled.stderr

    listed = newspipe("feeds", "list", "--json", *db, cwd=tmp_path)
    health = {f["url"]: f for f in map(json.loads, listed.stdout.splitlines())}
    ok, gone = health[server.url("/feed.xml")], health[server.url("/gone.xml")]
    assert ok["last_status"] == 200 and ok["title"] == "News" and ok["role"] == "wire"
    assert gone["paused_reason"].startswith("feed is gone (HTTP 410)")
    assert "paused" in newspipe("feeds", "list", *db, cwd=tmp_path).stdout
    checked = newspipe("feeds", "check", server.url("/feed.xml"), "--json", *db, cwd=tmp_path,
                       env=env)
    assert json.loads(checked.stdout)["health"]["last_status"] == 200

    resumed = newspipe("feeds", "resume", server.url("/gone.xml"), *db, cwd=tmp_path)
    assert resumed.returncode == 0 and "resumed feed" in resumed.stdout + resumed.stderr
    listed = newspipe("feeds", "list", "--json", *db, cwd=tmp_path)
    health = {f["url"]: f for f in map(json.loads, listed.stdout.splitlines())}
    assert health[server.url("/gone.xml")]["paused_reason"] is None

    removed = newspipe("feeds", "remove", server.url("/gone.xml"), *db, cwd=tmp_path)
    assert removed.returncode == 0, removed.stderr
    missing = newspipe("feeds", "remove", server.url("/gone.xml"), *db, cwd=tmp_path)
    assert missing.returncode == 1 and "no feed" in missing.stderr
