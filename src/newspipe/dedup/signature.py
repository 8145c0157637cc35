"""MinHash signatures (datasketch) and the LSH bands cut from them."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from datasketch import LeanMinHash, MinHash
from datasketch.lsh import _optimal_param

from newspipe.dedup.shingles import mix


@lru_cache(maxsize=32)
def band_layout(threshold: float, num_perm: int, fp_weight: float = 0.5,
                fn_weight: float = 0.5) -> tuple[int, int]:
    """(bands, rows) minimising datasketch's weighted false positive/negative probability."""
    return _optimal_param(threshold, num_perm, fp_weight, fn_weight)


@lru_cache(maxsize=8)
def _permutations(num_perm: int, seed: int) -> tuple:
    # Drawing the permutations costs as much as hashing a whole article: draw them once.
    return MinHash(num_perm=num_perm, seed=seed).permutations


def minhash(shingle_hashes: np.ndarray, num_perm: int, seed: int = 1) -> LeanMinHash:
    """MinHash of shingles already hashed to 64 bits (see shingles.py), folded here to
    the 32 bits datasketch's permutations take (its hash function is then the identity)."""
    folded = (shingle_hashes ^ (shingle_hashes >> np.uint64(32))) & np.uint64(0xFFFFFFFF)
    signature = MinHash(num_perm=num_perm, seed=seed, hashfunc=int,
                        permutations=_permutations(num_perm, seed), scheme="affine32")
    signature.update_batch(folded.tolist())
    return LeanMinHash(signature)


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
