"""Which member of a story is its canonical record."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from newspipe.models import FeedRole

_FAR_FUTURE = datetime.max.replace(tzinfo=UTC)
# The original publisher first, then the wire that distributed it, then everyone else.
_ROLE_RANK = {FeedRole.ORIGINAL.value: 0, FeedRole.WIRE.value: 1}


@dataclass(frozen=True)
class Member:
    id: int
    role: str
    published_at: datetime | None
    text_length: int


def canonical_rank(member: Member) -> tuple:
    """Lower is better: a source listed as original, then as wire, then the earliest
    published, then the more complete text, then the first stored."""
    return (
        _ROLE_RANK.get(member.role, 2),
        member.published_at or _FAR_FUTURE,
        -member.text_length,
        member.id,
    )


def pick_canonical(members: list[Member]) -> Member:
    return min(members, key=canonical_rank)
