"""Word shingles: the unit of similarity between two texts."""

from __future__ import annotations


def shingles(words: list[str], size: int = 5) -> set[bytes]:
    """Overlapping `size`-word windows; a text shorter than that is one shingle."""
    if len(words) < size:
        return {" ".join(words).encode()} if words else set()
    return {" ".join(words[i:i + size]).encode() for i in range(len(words) - size + 1)}
