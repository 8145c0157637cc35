"""ISO 8601 text to and from aware UTC datetimes: the one form in which newspipe keeps time."""

from __future__ import annotations

from datetime import UTC, datetime


def format_utc(value: datetime | None) -> str | None:
    """The ISO 8601 form newspipe writes (exports, JSON output, WARC-Date): UTC with `Z`."""
    if value is None:
        return None
    return (value.astimezone(UTC) if value.tzinfo else value).isoformat().replace("+00:00", "Z")


def parse_utc(value: object) -> datetime | None:
    """An ISO 8601 date or time as an aware UTC datetime (a bare day is midnight UTC, a
    time without offset is taken as UTC); None for anything else."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    except (ValueError, OverflowError):  # `0001-01-01T00:00:00+01:00` is before year 1 in UTC
        return None
