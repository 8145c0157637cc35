"""MinHash signatures (datasketch) and the LSH bands cut from them."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from datasketch import LeanMinHash, MinHash
from datasketch.lsh import _optimal_param
from datasketch.minhash import _fmix

from newspipe.dedup.shingles import mix


@lru_cache(maxsize=32)
def band_layout(threshold: float, num_perm: int, fp_weight: float = 0.5,
                fn_weight: float = 0.5) -> tuple[int, int]:
    """(bands, rows) minimising datasketch's weighted false positive/negative probability."""
    return _optimal_param(threshold, num_perm, fp_weight, fn_weight)


# An empty MinHash's hash values (datasketch's initial values for scheme "affine32").
_EMPTY = np.uint32(0xFFFFFFFF)


@lru_cache(maxsize=8)
def _permutations(num_perm: int, seed: int) -> tuple:
    # Drawing the permutations costs as much as hashing a whole article: draw them once.
    return MinHash(num_perm=num_perm, seed=seed).permutations


def minhash(shingle_hashes: np.ndarray, num_perm: int, seed: int = 1) -> LeanMinHash:
    """MinHash of shingles already hashed to 64 bits (see shingles.py), folded here to
    the 32 bits datasketch's permutations take (its hash function is then the identity)."""
    return LeanMinHash(seed=seed, hashvalues=minhash_values(shingle_hashes, num_perm, seed),
                       scheme="affine32")


def minhash_values(shingle_hashes: np.ndarray, num_perm: int, seed: int = 1) -> np.ndarray:
    """The hash values datasketch's `MinHash.update_batch` gives (scheme "affine32",
    identity hash function), computed on the array as it is: `update_batch` takes a
    Python list and calls the hash function on each element, which costs as much as the
    permutations themselves. tests/test_dedup_signature.py checks the two agree."""
    folded = ((shingle_hashes ^ (shingle_hashes >> np.uint64(32)))
              & np.uint64(0xFFFFFFFF)).astype(np.uint32)
    a, b = _permutations(num_perm, seed)
    if not len(folded):
        return np.full(num_perm, _EMPTY, dtype=np.uint32)
    # Array arithmetic wraps modulo 2**32, as the affine permutations intend.
    return (_fmix(folded, 32).reshape(-1, 1) * a + b).min(axis=0)


def from_bytes(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype="<u4")


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.count_nonzero(a == b)) / len(a)


def band_buckets(hashvalues: np.ndarray, bands: int, rows: int, salt: int = 0) -> list[int]:
    """One signed 64-bit key per band: the band number (and `salt`, which keeps separate
    band sets apart in one table) hashed with the band's rows."""
    values = hashvalues[:bands * rows].astype(np.uint64).reshape(bands, rows)
    keys = mix(np.arange(bands, dtype=np.uint64) + np.uint64(salt << 32))
    with np.errstate(over="ignore"):
        for row in range(rows):
            keys = mix(keys ^ values[:, row])
    return keys.view(np.int64).tolist()
