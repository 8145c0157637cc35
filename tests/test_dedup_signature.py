"""newspipe's MinHash fast path gives exactly datasketch's signature."""

import numpy as np
import pytest
import xxhash
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


def test_shingle_hashes_are_the_same_after_the_word_cache_empties(monkeypatch) -> None:
    from newspipe.dedup import shingles

    words = tokens("wire copy is republished by many outlets with small edits " * 3)
    first = shingle_hashes(words)
    monkeypatch.setattr(shingles._WordHashes, "limit", 2)
    shingles._word_hashes.clear()
    assert np.array_equal(shingle_hashes(words), first)
    assert len(shingles._word_hashes) <= 2
    expected = shingles.mix(np.array([xxhash.xxh64_intdigest("zürich".encode())],
                                     dtype=np.uint64))
    assert np.array_equal(shingle_hashes(["zürich"], 1), expected)


def test_tokens_are_the_words_a_regular_expression_finds() -> None:
    """The split-and-isalnum fast path finds exactly the runs of \\w, whatever the script
    and punctuation (random text over a wide slice of Unicode)."""
    import random
    import re

    word = re.compile(r"\w+")
    rng = random.Random(3)
    alphabet = [chr(c) for c in range(0x20, 0x3000)] + [" "] * 300
    texts = ["don't stop_me: 3.14 ½ x² café—naïve «quoted» 日本語 __ -- ﬁ Ⅻ ① 𝟘"]
    texts += ["".join(rng.choices(alphabet, k=80)) for _ in range(2000)]
    for text in texts:
        assert tokens(text) == word.findall(text), text
