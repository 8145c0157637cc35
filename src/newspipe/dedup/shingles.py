"""Word shingles, the unit of similarity between two texts, as 64-bit hashes.

Hashing shingles is the hot spot of de-duplication: each word is hashed once (xxh64) and
the hash of each `size`-word window is a polynomial of its words' hashes, computed for all
windows at once with numpy, instead of joining and hashing every window's bytes."""

from __future__ import annotations

import numpy as np
import xxhash

_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)


def mix(values: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: every input bit moves every output bit."""
    values = values ^ (values >> np.uint64(30))
    values = values * np.uint64(0xBF58476D1CE4E5B9)
    values = values ^ (values >> np.uint64(27))
    values = values * np.uint64(0x94D049BB133111EB)
    return values ^ (values >> np.uint64(31))


class _WordHashes(dict):
    """xxh64 of each word, remembered: news vocabulary is Zipf-distributed, so most words
    of an article were hashed before and a dictionary lookup costs half the hashing.
    Bounded: emptied when it reaches `limit` words."""

    limit = 500_000

    def __missing__(self, word: str) -> int:
        if len(self) >= self.limit:
            self.clear()
        value = self[word] = xxhash.xxh64_intdigest(word.encode())
        return value


_word_hashes = _WordHashes()


def shingle_hashes(words: list[str], size: int = 5) -> np.ndarray:
    """64-bit hashes of the overlapping `size`-word windows (a text shorter than that is
    one window; no words, no shingles)."""
    word_hashes = np.fromiter(map(_word_hashes.__getitem__, words),
                              dtype=np.uint64, count=len(words))
    width = min(size, len(words))
    count = len(words) - width + 1 if words else 0
    combined = np.zeros(count, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for offset in range(width):
            combined = combined * _MULTIPLIER + word_hashes[offset:offset + count]
        return mix(combined)


def set_jaccard(a: set, b: set) -> float:
    union = len(a | b)
    return len(a & b) / union if union else 0.0


def set_containment(a: set, b: set) -> float:
    """How much of the smaller set lies in the other one."""
    smaller = min(len(a), len(b))
    return len(a & b) / smaller if smaller else 0.0
