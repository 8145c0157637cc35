"""Which member of a story is its canonical record."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from newspipe.models import FeedRole

_FAR_FUTURE = datetime.max.replace(tzinfo=UTC)
_TRUSTED_ROLES = {FeedRole.ORIGINAL.value, FeedRole.WIRE.value}


@dataclass(frozen=True)
class Member:
    id: int
    role: str
    published_at: datetime | None
    text_length: int


def canonical_rank(member: Member) -> tuple:
    """Lower is better: a source listed as original or wire first, then the earliest
    published, then the more complete text, then the first stored."""
    return (
        0 if member.role in _TRUSTED_ROLES else 1,
        member.published_at or _FAR_FUTURE,
        -member.text_length,
        member.id,
    )


def pick_canonical(members: list[Member]) -> Member:
    return min(members, key=canonical_rank)
