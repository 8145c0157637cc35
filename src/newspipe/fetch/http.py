"""The HTTP client: explicit timeouts, a body-size cap enforced while streaming, a
User-Agent that says who we are."""

from __future__ import annotations

from email.message import Message

import httpx

from newspipe.config import Settings
from newspipe.models import FetchedPage


class FetchError(RuntimeError):
    """A response newspipe could not use; the message says why, in one line."""


def charset_of(content_type: str | None) -> str | None:
    if not content_type:
        return None
    message = Message()
    message["content-type"] = content_type
    return message.get_content_charset()


def make_client(settings: Settings) -> httpx.Client:
    return httpx.Client(
        headers={"User-Agent": settings.user_agent},
        timeout=httpx.Timeout(settings.timeout_seconds,
                              connect=min(10.0, settings.timeout_seconds)),
        follow_redirects=True,
        max_redirects=5,
    )


def fetch(client: httpx.Client, url: str, *, max_bytes: int,
          headers: dict[str, str] | None = None) -> FetchedPage:
    """GET `url`; raise FetchError for transport errors, HTTP errors or oversized bodies."""
    try:
        with client.stream("GET", url, headers=headers) as response:
            if response.status_code == 304:
                return _page(url, response, b"")
            if response.status_code >= 400:
                raise FetchError(f"HTTP {response.status_code} {response.reason_phrase}")
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > max_bytes:
                    raise FetchError(f"body larger than {max_bytes} bytes")
            return _page(url, response, bytes(body))
    except httpx.TooManyRedirects:
        raise FetchError("too many redirects") from None
    except httpx.TimeoutException as exc:
        raise FetchError(f"timed out ({type(exc).__name__})") from None
    except httpx.HTTPError as exc:
        raise FetchError(f"{type(exc).__name__}: {exc}") from None


def _page(url: str, response: httpx.Response, body: bytes) -> FetchedPage:
    content_type = response.headers.get("content-type")
    return FetchedPage(
        url=url,
        final_url=str(response.url),
        status=response.status_code,
        content=body,
        content_type=content_type,
        charset=charset_of(content_type),
        headers=dict(response.headers),
    )
