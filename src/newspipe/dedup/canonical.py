"""Which member of a story is its canonical record, by a configurable policy."""

from __future__ import annotations

from collections.abc import Callable, Sequence
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


# Each criterion maps a member to a sort key: lower is better.
CRITERIA: dict[str, Callable[[Member], object]] = {
    "role": lambda m: _ROLE_RANK.get(m.role, 2),
    "earliest": lambda m: m.published_at or _FAR_FUTURE,
    "longest": lambda m: -m.text_length,
}
DEFAULT_POLICY = ("role", "earliest", "longest")


def check_policy(policy: Sequence[str]) -> tuple[str, ...]:
    unknown = [name for name in policy if name not in CRITERIA]
    if unknown:
        raise ValueError(f"unknown canonical criteria {unknown}: use {sorted(CRITERIA)}")
    return tuple(policy)


def canonical_rank(member: Member, policy: Sequence[str] = DEFAULT_POLICY) -> tuple:
    """The policy's criteria in order, then the first stored (a stable tie-break)."""
    return (*(CRITERIA[name](member) for name in policy), member.id)


def pick_canonical(members: list[Member], policy: Sequence[str] = DEFAULT_POLICY) -> Member:
    return min(members, key=lambda member: canonical_rank(member, policy))
