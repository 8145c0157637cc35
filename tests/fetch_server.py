"""A scriptable HTTP server on 127.0.0.1 for the fetch tests: each path answers with a
function of the request, and every request is logged (path, headers, arrival time)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    at: float


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


Route = Callable[["Handler"], Reply | None]  # None: the route wrote the response itself


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: TestServer

    def do_GET(self) -> None:  # noqa: N802 - the http.server naming
        self.server.log.append(Seen(self.path, dict(self.headers), time.monotonic()))
        with self.server.lock:
            self.server.in_flight += 1
            self.server.max_in_flight = max(self.server.max_in_flight, self.server.in_flight)
        try:
            route = self.server.routes.get(self.path.split("?")[0])
            reply = route(self) if route else Reply(404, b"not found")
            if reply is not None:
                self.send(reply)
        except (BrokenPipeError, ConnectionResetError):
            pass
        finally:
            with self.server.lock:
                self.server.in_flight -= 1

    def send(self, reply: Reply) -> None:
        self.send_response(reply.status)
        headers = {"Content-Type": "text/html; charset=utf-8", **reply.headers}
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)

    def log_message(self, format, *args):  # noqa: A002
        pass


class TestServer(ThreadingHTTPServer):
    __test__ = False  # not a test class
    daemon_threads = True

    def __init__(self, host: str = "127.0.0.1"):
        super().__init__((host, 0), Handler)
        self.routes: dict[str, Route] = {}
        self.log: list[Seen] = []
        self.lock = threading.Lock()
        self.in_flight = self.max_in_flight = 0
        self.base_url = f"http://{host}:{self.server_address[1]}"
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)

    def __enter__(self) -> TestServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.shutdown()
        self.server_close()

    def url(self, path: str) -> str:
        return self.base_url + path

    def hits(self, path: str) -> list[Seen]:
        return [s for s in self.log if s.path.split("?")[0] == path]

    def serve(self, path: str, body: bytes | str, content_type: str = "text/html; charset=utf-8",
              status: int = 200, **headers: str) -> None:
        data = body.encode() if isinstance(body, str) else body
        self.routes[path] = lambda _: Reply(status, data, {"Content-Type": content_type,
                                                           **headers})


def rss(title: str, items: list[tuple[str, str]], base: str = "") -> str:
    """An RSS 2.0 document with (guid, link) items."""
    entries = "".join(f"<item><title>{guid}</title><guid>{guid}</guid><link>{base}{link}</link>"
                      f"<pubDate>Mon, 06 Sep 2021 10:17:00 +0200</pubDate></item>"
                      for guid, link in items)
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>{title}</title><link>{base}/</link>{entries}</channel></rss>")
