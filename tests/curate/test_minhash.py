"""MinHash-LSH near-duplicate detection: planted duplicates are found, unrelated texts are not."""

from __future__ import annotations

import random
import string

import numpy as np
import pytest

from tracelake.jobs.curate.minhash import (
    MinHashConfig,
    MinHasher,
    candidate_pairs,
    connected_components,
    estimated_jaccard,
)


def _vocab(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choices(string.ascii_lowercase, k=7)) for _ in range(n)]


def _corpus(n_docs: int, n_dups: int, edits: int, seed: int = 1):
    """n_docs random documents plus n_dups near-copies (each with `edits` words replaced)."""
    rng = random.Random(seed)
    vocab = _vocab(5000)
    docs = [[rng.choice(vocab) for _ in range(rng.randint(120, 200))] for _ in range(n_docs)]
    truth = []
    for _ in range(n_dups):
        src = rng.randrange(n_docs)
        copy = list(docs[src])
        for pos in rng.sample(range(len(copy)), edits):
            copy[pos] = rng.choice(vocab)
        truth.append((src, len(docs)))
        docs.append(copy)
    return [" ".join(d) for d in docs], truth


def test_near_duplicates_are_found_and_unrelated_texts_are_not():
    # One edit in 120-200 words: Jaccard >= 0.92, collision probability >= 0.998 per pair.
    texts, truth = _corpus(n_docs=400, n_dups=60, edits=1)
    hasher = MinHasher()
    sig, has = hasher.signatures(texts)
    assert has.all()
    pairs = {tuple(p) for p in candidate_pairs(hasher.band_keys(sig), has).tolist()}
    found = [t for t in truth if t in pairs]
    assert len(found) == len(truth)
    labels = connected_components(len(texts), np.array(sorted(pairs)))
    expected = connected_components(len(texts), np.array(truth))
    assert labels.tolist() == expected.tolist()  # no pair outside the planted clusters


def test_signature_estimates_jaccard_and_is_deterministic():
    base = " ".join(_vocab(300, seed=3))
    edited = base.split()
    edited[100:130] = _vocab(30, seed=4)
    texts = [base, " ".join(edited)]
    sig1, _ = MinHasher().signatures(texts)
    sig2, _ = MinHasher().signatures(texts)
    assert np.array_equal(sig1, sig2)
    # 30 of 300 words replaced touch ~34 of 296 shingles: Jaccard ~ 0.79.
    assert 0.6 < estimated_jaccard(sig1[0], sig1[1]) < 0.95
    other, _ = MinHasher(MinHashConfig(seed=7)).signatures(texts)
    assert not np.array_equal(sig1, other)


def test_normalisation_makes_case_digits_and_punctuation_irrelevant():
    a = "Fetch https://example.com/page/12 then Summarize the page, and WRITE report-3.md now"
    b = "fetch https example com page 99 then summarize the page and write report 7 md now"
    sig, _ = MinHasher().signatures([a, b])
    assert estimated_jaccard(sig[0], sig[1]) == 1.0


def test_empty_and_short_documents():
    hasher = MinHasher()
    sig, has = hasher.signatures(["", "two words", "two words", None, "   "])
    assert has.tolist() == [False, True, True, False, False]
    pairs = candidate_pairs(hasher.band_keys(sig), has).tolist()
    assert pairs == [[1, 2]]  # identical short documents collide; empty ones never do


def test_collision_probability_curve():
    config = MinHashConfig()
    assert config.num_hashes == 112
    assert config.collision_probability(0.9) > 0.99
    assert config.collision_probability(0.3) < 0.01
    with pytest.raises(ValueError):
        MinHashConfig(bands=0)


def test_chunked_signatures_equal_one_pass_and_keep_document_order(monkeypatch):
    from tracelake.jobs.curate import minhash, text

    texts, _ = _corpus(n_docs=40, n_dups=10, edits=2)
    texts += ["", "two words", None]
    whole_sig, whole_has, whole_sets = MinHasher().signatures_and_shingles(texts)
    whole_hashes = text.content_hashes([t or "" for t in texts])
    monkeypatch.setattr(minhash, "_CHUNK_DOCS", 7)
    monkeypatch.setattr(text, "_HASH_CHUNK", 5)
    sig, has, sets = MinHasher().signatures_and_shingles(texts)
    assert np.array_equal(sig, whole_sig) and np.array_equal(has, whole_has)
    assert np.array_equal(sets.starts, whole_sets.starts)
    assert all(np.array_equal(sets.get(d), whole_sets.get(d)) for d in range(len(texts)))
    assert text.content_hashes([t or "" for t in texts]) == whole_hashes
    empty_sig, empty_has, _ = MinHasher().signatures_and_shingles([])
    assert empty_sig.shape == (0, 112) and len(empty_has) == 0
