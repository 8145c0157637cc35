"""MinHash signatures (datasketch) and the LSH bands cut from them."""

from __future__ import annotations

import hashlib
from functools import lru_cache

import numpy as np
import xxhash
from datasketch import LeanMinHash, MinHash
from datasketch.lsh import _optimal_param

# Shingle hashing is the hot spot of fingerprinting: xxh32 is ~2.5x faster than
# datasketch's default SHA-1 (bench/dedup_scale.py prints both) and as good for MinHash.
shingle_hash = xxhash.xxh32_intdigest


@lru_cache(maxsize=32)
def band_layout(threshold: float, num_perm: int, fp_weight: float = 0.5,
                fn_weight: float = 0.5) -> tuple[int, int]:
    """(bands, rows) minimising datasketch's weighted false positive/negative probability."""
    return _optimal_param(threshold, num_perm, fp_weight, fn_weight)


@lru_cache(maxsize=8)
def _permutations(num_perm: int, seed: int) -> tuple:
    # Drawing the permutations costs as much as hashing a whole article: draw them once.
    return MinHash(num_perm=num_perm, seed=seed).permutations


def minhash(shingle_set: set[bytes], num_perm: int, seed: int = 1) -> LeanMinHash:
    signature = MinHash(num_perm=num_perm, seed=seed, hashfunc=shingle_hash,
                        permutations=_permutations(num_perm, seed), scheme="affine32")
    signature.update_batch(list(shingle_set))
    return LeanMinHash(signature)


def from_bytes(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype="<u4")


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.count_nonzero(a == b)) / len(a)


def containment(jaccard_ab: float, size_a: int, size_b: int) -> float:
    """Estimated |A & B| / |A| from the Jaccard estimate and the two set sizes."""
    if size_a == 0:
        return 0.0
    intersection = jaccard_ab * (size_a + size_b) / (1.0 + jaccard_ab)
    return min(1.0, intersection / size_a)


def band_buckets(hashvalues: np.ndarray, bands: int, rows: int, salt: int = 0) -> list[int]:
    """One signed 64-bit key per band: the band number (and `salt`, which keeps separate
    band sets apart in one table) hashed with the band's rows."""
    values = hashvalues.astype("<u4")
    keys = []
    for band in range(bands):
        digest = hashlib.blake2b(values[band * rows:(band + 1) * rows].tobytes(),
                                 digest_size=8,
                                 salt=(salt * 65536 + band).to_bytes(4, "little")).digest()
        keys.append(int.from_bytes(digest, "little", signed=True))
    return keys
