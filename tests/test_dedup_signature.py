"""newspipe's MinHash fast path gives exactly datasketch's signature."""

import numpy as np
import pytest
from datasketch import MinHash

from newspipe.dedup.normalize import tokens
from newspipe.dedup.shingles import shingle_hashes
from newspipe.dedup.signature import minhash, minhash_values


def datasketch_minhash(hashes: np.ndarray, num_perm: int) -> np.ndarray:
    folded = (hashes ^ (hashes >> np.uint64(32))) & np.uint64(0xFFFFFFFF)
    signature = MinHash(num_perm=num_perm, seed=1, hashfunc=int, scheme="affine32")
    signature.update_batch(folded.tolist())
    return signature.hashvalues


@pytest.mark.parametrize("num_perm", [32, 128])
@pytest.mark.parametrize("text", [
    "", "one", "four words only here",
    "the quick brown fox jumps over the lazy dog " * 40,
    "Zürich, 日本語 and résumé: unicode words hash like any other words in a text",
])
def test_minhash_values_equal_datasketch_update_batch(text: str, num_perm: int) -> None:
    hashes = shingle_hashes(tokens(text.casefold()))
    expected = datasketch_minhash(hashes, num_perm)
    assert np.array_equal(minhash_values(hashes, num_perm), expected)
    assert np.array_equal(minhash(hashes, num_perm).hashvalues, expected)
