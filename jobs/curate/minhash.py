"""MinHash signatures and LSH banding for near-duplicate detection, column-wise over a batch.

The geometry follows datatrove's defaults (5-word shingles, 14 bands x 8 rows = 112 hashes), so
results are comparable with it, but nothing is done per document in Python:
  1. texts are normalised with Arrow kernels (lower case, digits -> 0, punctuation -> space);
  2. words are split and dictionary-encoded once for the whole batch, so each distinct word is
     hashed once (agent trajectories are templated: few distinct words, many repeats);
  3. a shingle's hash combines its word hashes with a polynomial over a sliding window of the
     flat word array; windows that cross a document boundary are dropped;
  4. the 112 permutations are multiply-shift hashes (a*x + b mod 2^64, top 32 bits), evaluated
     on blocks of shingles and reduced per document with `np.minimum.reduceat`;
  5. each band's 8 values are folded into one 64-bit bucket key.
A document with fewer words than the shingle size is one shingle of all its words; an empty
document has no shingles and no bucket keys (it can only be an exact duplicate).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash

_WINDOW_PRIME = np.uint64(0x9E3779B97F4A7C15)  # odd 64-bit multiplier of the shingle polynomial
_BAND_PRIME = np.uint64(0xC2B2AE3D27D4EB4F)
# Rows of the (shingles x hashes) matrix evaluated at once (~7 MB: stays in cache); a longer
# document is one block of its own.
_BLOCK_SHINGLES = 8_192


@dataclass(frozen=True)
class MinHashConfig:
    """Shingle size and LSH geometry. Two signatures collide in at least one band with
    probability 1 - (1 - s^rows)^bands for Jaccard similarity s (about 0.5 at s = 0.72 here)."""

    ngram: int = 5
    bands: int = 14
    rows: int = 8
    seed: int = 1

    def __post_init__(self) -> None:
        if self.ngram < 1 or self.bands < 1 or self.rows < 1:
            raise ValueError("ngram, bands and rows must all be >= 1")

    @property
    def num_hashes(self) -> int:
        return self.bands * self.rows

    def collision_probability(self, jaccard: float) -> float:
        return 1.0 - (1.0 - jaccard**self.rows) ** self.bands


def normalize(texts: pa.Array) -> pa.Array:
    """Lower case, digits to 0, punctuation and whitespace runs to one space (Arrow kernels)."""
    texts = pc.fill_null(texts.cast(pa.large_string()), "")
    texts = pc.utf8_lower(texts)
    texts = pc.replace_substring_regex(texts, r"[0-9]+", "0")
    texts = pc.replace_substring_regex(texts, r"[^\w]+", " ")
    return pc.utf8_trim_whitespace(texts)


def _word_hashes(texts: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Per-word 64-bit hashes of the whole batch (flat) and each document's word offsets."""
    # An empty text splits into one empty word; as null it splits into no words.
    texts = pc.if_else(pc.equal(pc.utf8_length(texts), 0), pa.scalar(None, texts.type), texts)
    words = pc.utf8_split_whitespace(texts)
    if isinstance(words, pa.ChunkedArray):
        words = words.combine_chunks()
    offsets = np.asarray(words.offsets, dtype=np.int64)
    offsets = offsets - offsets[0]
    flat = words.flatten()
    if len(flat) == 0:
        return np.zeros(0, dtype=np.uint64), offsets
    encoded = flat.dictionary_encode()
    vocab = encoded.dictionary.to_pylist()
    vocab_hashes = np.fromiter(
        (xxhash.xxh3_64_intdigest(w.encode()) for w in vocab), dtype=np.uint64, count=len(vocab)
    )
    indices = encoded.indices.to_numpy(zero_copy_only=False)
    return vocab_hashes[indices], offsets


def shingle_hashes(texts: pa.Array, ngram: int) -> tuple[np.ndarray, np.ndarray]:
    """Hashes of every `ngram`-word shingle, flat, and each document's [start, end) into them.

    `texts` must already be normalised."""
    word_h, offsets = _word_hashes(texts)
    lengths = np.diff(offsets)
    n_docs = len(lengths)
    total = len(word_h)
    with np.errstate(over="ignore"):
        if total >= ngram:
            windows = np.zeros(total - ngram + 1, dtype=np.uint64)
            for k in range(ngram):
                windows = windows * _WINDOW_PRIME + word_h[k : total - ngram + 1 + k]
        else:
            windows = np.zeros(0, dtype=np.uint64)
    # Full windows of document d start at offsets[d] .. offsets[d+1]-ngram.
    full_counts = np.maximum(lengths - ngram + 1, 0)
    short = (lengths > 0) & (lengths < ngram)
    counts = full_counts + short.astype(np.int64)
    starts = np.zeros(n_docs + 1, dtype=np.int64)
    np.cumsum(counts, out=starts[1:])
    out = np.empty(int(starts[-1]), dtype=np.uint64)
    n_full = int(full_counts.sum())
    if n_full:
        within = np.arange(n_full) - np.repeat(_exclusive_cumsum(full_counts), full_counts)
        src = np.repeat(offsets[:-1], full_counts) + within
        dst = np.repeat(starts[:-1], full_counts) + within
        out[dst] = windows[src]
    if short.any():
        # A document shorter than one shingle: the hash of all its words.
        for d in np.flatnonzero(short):
            acc = np.uint64(0)
            with np.errstate(over="ignore"):
                for h in word_h[offsets[d] : offsets[d + 1]]:
                    acc = acc * _WINDOW_PRIME + h
            out[starts[d + 1] - 1] = acc
    return out, starts


def _exclusive_cumsum(values: np.ndarray) -> np.ndarray:
    result = np.zeros(len(values), dtype=np.int64)
    if len(values) > 1:
        np.cumsum(values[:-1], out=result[1:])
    return result


class MinHasher:
    """Signatures and band keys for batches of texts, with one fixed set of permutations."""

    def __init__(self, config: MinHashConfig | None = None) -> None:
        self.config = config or MinHashConfig()
        rng = np.random.default_rng(self.config.seed)
        n = self.config.num_hashes
        # Multiply-shift needs odd multipliers.
        self._a = rng.integers(1, 2**63, size=n, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
        self._b = rng.integers(0, 2**63, size=n, dtype=np.uint64)
        self._band_mix = rng.integers(1, 2**63, size=self.config.rows, dtype=np.uint64)

    def signatures(self, texts: pa.Array | list[str]) -> tuple[np.ndarray, np.ndarray]:
        """(signatures uint32 [docs x hashes], has_shingles bool [docs]).

        Documents without shingles get an all-0xFFFFFFFF row and has_shingles False."""
        sig, has, _ = self.signatures_and_shingles(texts)
        return sig, has

    def signatures_and_shingles(
        self, texts: pa.Array | list[str]
    ) -> tuple[np.ndarray, np.ndarray, ShingleSets]:
        """`signatures`, and each document's set of shingle hashes (for an exact Jaccard where
        both texts are at hand; computed anyway, so keeping them costs only their memory)."""
        arr = texts if isinstance(texts, pa.Array | pa.ChunkedArray) else pa.array(texts)
        shingles, starts = shingle_hashes(normalize(arr), self.config.ngram)
        sig, has = self._minhash(shingles, starts)
        return sig, has, ShingleSets.of(shingles, starts)

    def _minhash(self, shingles: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n_docs = len(starts) - 1
        sig = np.full((n_docs, self.config.num_hashes), np.uint32(0xFFFFFFFF), dtype=np.uint32)
        counts = np.diff(starts)
        has = counts > 0
        if not len(shingles):
            return sig, has
        docs = np.flatnonzero(has)
        doc_starts = starts[docs]
        # Evaluate block by block of whole documents so memory stays bounded.
        doc_ends = starts[docs + 1]
        longest = int(counts.max())
        buffer = np.empty((max(_BLOCK_SHINGLES, longest), self.config.num_hashes), dtype=np.uint64)
        block_begin = 0
        while block_begin < len(docs):
            limit = doc_starts[block_begin] + _BLOCK_SHINGLES
            # Whole documents that end within the limit (at least one: a long one alone).
            block_end = int(np.searchsorted(doc_ends, limit, side="right"))
            block_end = max(block_end, block_begin + 1)
            lo = int(doc_starts[block_begin])
            hi = int(starts[docs[block_end - 1] + 1])
            # In place, one buffer per block: the block fits in cache, and no temporaries.
            values = buffer[: hi - lo]
            with np.errstate(over="ignore"):
                np.multiply(shingles[lo:hi, None], self._a[None, :], out=values)
                np.add(values, self._b[None, :], out=values)
            np.right_shift(values, np.uint64(32), out=values)
            mins = np.minimum.reduceat(values, doc_starts[block_begin:block_end] - lo, axis=0)
            sig[docs[block_begin:block_end]] = mins.astype(np.uint32)
            block_begin = block_end
        return sig, has

    def band_keys(self, signatures: np.ndarray) -> np.ndarray:
        """One 64-bit bucket key per document and band: [docs x bands] uint64."""
        rows, bands = self.config.rows, self.config.bands
        shaped = signatures.reshape(len(signatures), bands, rows).astype(np.uint64)
        with np.errstate(over="ignore"):
            keys = np.zeros((len(signatures), bands), dtype=np.uint64)
            for r in range(rows):
                keys = (keys ^ (shaped[:, :, r] * self._band_mix[r])) * _BAND_PRIME
            # The band number is part of the key, so equal values in two bands never collide.
            keys ^= np.arange(bands, dtype=np.uint64)[None, :] * _WINDOW_PRIME
        return keys


class ShingleSets:
    """Each document's distinct shingle hashes, sorted, made on demand: only LSH candidates need
    them (a sort of the whole batch's shingles would cost more than the MinHash itself)."""

    def __init__(self, shingles: np.ndarray, starts: np.ndarray) -> None:
        self.shingles, self.starts = shingles, starts
        self._made: dict[int, np.ndarray] = {}

    @classmethod
    def of(cls, shingles: np.ndarray, starts: np.ndarray) -> ShingleSets:
        return cls(shingles, starts)

    def get(self, d: int) -> np.ndarray:
        made = self._made.get(d)
        if made is None:
            made = self._made[d] = np.unique(self.shingles[self.starts[d] : self.starts[d + 1]])
        return made


def exact_jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Jaccard similarity of two sorted sets of distinct shingle hashes (64-bit: collisions of
    distinct shingles are negligible)."""
    if not len(a) and not len(b):
        return 1.0
    common = len(np.intersect1d(a, b, assume_unique=True))
    return common / (len(a) + len(b) - common)


def estimated_jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Share of equal signature positions: an unbiased estimate of the Jaccard similarity."""
    return float(np.mean(a == b))


def candidate_pairs(keys: np.ndarray, has_shingles: np.ndarray) -> np.ndarray:
    """Pairs (i, j), i < j, of documents sharing a bucket in any band: edges of a star per bucket
    (each member to the bucket's first member), which is enough for connected components."""
    docs = np.flatnonzero(has_shingles)
    if len(docs) < 2:
        return np.zeros((0, 2), dtype=np.int64)
    edges = []
    for band in range(keys.shape[1]):
        col = keys[docs, band]
        order = np.argsort(col, kind="stable")
        sorted_keys = col[order]
        first = np.r_[True, sorted_keys[1:] != sorted_keys[:-1]]
        group = np.cumsum(first) - 1
        leader = order[np.flatnonzero(first)][group]
        member = order
        keep = leader != member
        if keep.any():
            edges.append(np.stack([docs[leader[keep]], docs[member[keep]]], axis=1))
    if not edges:
        return np.zeros((0, 2), dtype=np.int64)
    pairs = np.concatenate(edges)
    pairs.sort(axis=1)
    return np.unique(pairs, axis=0)


def connected_components(n: int, pairs: np.ndarray) -> np.ndarray:
    """Component label (the smallest member index) of each of n nodes, by union-find."""
    parent = np.arange(n, dtype=np.int64)

    def find(x: int) -> int:
        root = x
        while parent[root] != root:
            root = int(parent[root])
        while parent[x] != root:
            parent[x], x = root, int(parent[x])
        return root

    for i, j in pairs.tolist():
        ri, rj = find(i), find(j)
        if ri != rj:
            if ri < rj:
                parent[rj] = ri
            else:
                parent[ri] = rj
    return np.fromiter((find(i) for i in range(n)), dtype=np.int64, count=n)
