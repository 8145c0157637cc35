"""The seed fixture served on 127.0.0.1, for `newspipe demo`, the tests and the DAG tests.

Fixture files write absolute URLs as `{{base}}`; the server fills in its own address.
"""

from __future__ import annotations

import mimetypes
import threading
from dataclasses import replace
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from newspipe.config import Settings, load_settings

_PACKAGED_SEEDS = Path(__file__).with_name("_seeds")
_CHECKOUT_SEEDS = Path(__file__).resolve().parents[2] / "seeds"
_TEMPLATED = {".xml", ".rdf", ".json", ".html", ".htm", ".txt"}


def seeds_dir() -> Path:
    """The seed fixture: packaged in the wheel, or the checkout's `seeds/` (editable)."""
    for candidate in (_PACKAGED_SEEDS, _CHECKOUT_SEEDS):
        if (candidate / "feeds.toml").is_file():
            return candidate
    raise FileNotFoundError("the seed fixture (seeds/feeds.toml) is not installed")


class _FixtureHandler(SimpleHTTPRequestHandler):
    base_url = ""

    def send_head(self):
        path = Path(self.translate_path(self.path))
        if path.suffix not in _TEMPLATED or not path.is_file():
            return super().send_head()
        body = path.read_bytes().replace(b"{{base}}", self.base_url.encode())
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if path.suffix in {".xml", ".rdf"}:
            content_type = "application/xml"
        self.send_response(200)
        self.send_header("Content-Type", f"{content_type}; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        return None

    def log_message(self, format, *args):  # noqa: A002 - quiet: the demo prints its own table
        pass


def _bind(port: int, handler) -> ThreadingHTTPServer:
    """Bind `port` on 127.0.0.1, or an ephemeral port when it is taken."""
    try:
        return ThreadingHTTPServer(("127.0.0.1", port), handler)
    except OSError:
        if port == 0:
            raise
        return ThreadingHTTPServer(("127.0.0.1", 0), handler)


class FixtureServer:
    """A real HTTP server on 127.0.0.1 serving a fixture tree. The demo asks for a fixed
    port so that feed and article URLs, and so a re-run over the same store, stay the same;
    tests use an ephemeral one."""

    def __init__(self, root: Path | None = None, port: int = 0):
        self.root = root or seeds_dir() / "site"
        handler = type("Handler", (_FixtureHandler,), {})
        self.httpd = _bind(port, partial(handler, directory=str(self.root)))
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        handler.base_url = self.base_url
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> FixtureServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def settings(self, database_url: str | None = None, **overrides) -> Settings:
        """Settings for the seed feeds on this server (127.0.0.1 explicitly allowed; no
        per-host delay: politeness towards our own fixture server only slows the demo)."""
        settings = load_settings(seeds_dir() / "feeds.toml", database_url=database_url,
                                 base=self.base_url)
        local = {"allow_private_hosts": ("127.0.0.1",), "per_host_delay_seconds": 0.0,
                 "per_host_concurrency": 8}
        return replace(settings, **{**local, **overrides})
