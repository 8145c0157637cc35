"""Feed health policy: when to poll a failing feed again, and when to pause it.

Miniflux-like: exponential backoff per consecutive failure, at least as long as the server's
Retry-After asked; a feed that keeps failing, or is gone (HTTP 410), is paused with its
reason, never silently dropped (`newspipe feeds resume` brings it back).
"""

from __future__ import annotations

from newspipe.config import Settings


def backoff_seconds(failures: int, settings: Settings, retry_after: float | None = None) -> float:
    """Seconds until the next poll after `failures` consecutive failures."""
    delay = min(settings.feed_backoff_seconds * 2 ** (failures - 1),
                settings.feed_max_backoff_seconds)
    if retry_after is not None:
        delay = max(delay, min(retry_after, settings.feed_max_backoff_seconds))
    return delay


def pause_reason(failures: int, settings: Settings, error: Exception) -> str | None:
    """Why the feed is paused now, or None to keep polling it (after the backoff)."""
    if getattr(error, "status", None) == 410:
        return f"feed is gone (HTTP 410): {error}"
    if failures >= settings.pause_after_failures:
        return f"paused after {failures} consecutive failures; last: {error}"
    return None
