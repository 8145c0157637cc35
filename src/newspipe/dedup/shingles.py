"""Word shingles: the unit of similarity between two texts."""

from __future__ import annotations


def shingles(words: list[str], size: int = 5) -> set[bytes]:
    """Overlapping `size`-word windows; a text shorter than that is one shingle."""
    if len(words) < size:
        return {" ".join(words).encode()} if words else set()
    return {" ".join(words[i:i + size]).encode() for i in range(len(words) - size + 1)}


def set_jaccard(a: set, b: set) -> float:
    union = len(a | b)
    return len(a & b) / union if union else 0.0


def set_containment(a: set, b: set) -> float:
    """How much of the smaller set lies in the other one."""
    smaller = min(len(a), len(b))
    return len(a & b) / smaller if smaller else 0.0
