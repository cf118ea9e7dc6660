"""MinHash signatures and LSH banding for near-duplicate detection, column-wise over a batch.

The geometry follows datatrove's defaults (5-word shingles, 14 bands x 8 rows = 112 values), so
results are comparable with it, but nothing is done per document in Python:
  1. words are split from the raw texts with one Arrow kernel and dictionary-encoded for the
     whole batch; case and digits are folded, and each distinct word hashed, once per batch
     (agent trajectories are templated: few distinct words, many repeats);
  2. a shingle's hash combines its word hashes with a polynomial over a sliding window of the
     flat word array; windows that cross a document boundary are dropped;
  3. one-permutation MinHash (Li, Owen and Zhang 2012): each shingle is hashed once; the hash
     picks one of the 112 bins and the bin keeps its smallest value. The classic scheme
     evaluates 112 hash functions per shingle; this one costs one, and its Jaccard estimate is
     as good or better (bins sample without replacement). Bins a document leaves empty are
     filled by optimal densification (Shrivastava 2017), so a bin of two documents still agrees
     with probability equal to their Jaccard similarity, which is what LSH banding needs;
  4. each band's 8 values are folded into one 64-bit bucket key.
A document with fewer words than the shingle size is one shingle of all its words; an empty
document has no shingles and no bucket keys (it can only be an exact duplicate).

Signatures are comparable only under the same `MinHashConfig.scheme` (version, shingle size,
geometry, seed); the dedup index stores it with every signature (docs/curation.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash

_WINDOW_PRIME = np.uint64(0x9E3779B97F4A7C15)  # odd 64-bit multiplier of the shingle polynomial
_BAND_PRIME = np.uint64(0xC2B2AE3D27D4EB4F)
# Shingles hashed per block (a few MB of temporaries); a longer document is one block of its own.
_BLOCK_SHINGLES = 262_144
_EMPTY = np.uint32(0xFFFFFFFF)
# Documents per chunk of a batch's signature work (~20 MB of trajectory text).
_CHUNK_DOCS = 8_192
_NO_SHINGLES = np.zeros(0, dtype=np.uint64)
_LOW = np.uint64(0xFFFFFFFF)
_MIX_1 = np.uint64(0xBF58476D1CE4E5B9)  # splitmix64's finaliser constants
_MIX_2 = np.uint64(0x94D049BB133111EB)
# Part of every stored signature's scheme: bump it when signatures or band keys change meaning.
SCHEME_VERSION = "oph1"


def _mix(values: np.ndarray, seed: np.uint64) -> np.ndarray:
    """splitmix64's finaliser of (value xor seed): a well-mixed 64-bit hash of each value."""
    with np.errstate(over="ignore"):
        h = values ^ seed
        h *= _MIX_1
        h ^= h >> np.uint64(31)
        h *= _MIX_2
        h ^= h >> np.uint64(29)
    return h


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
    def scheme(self) -> str:
        """What a signature depends on: two signatures compare only under the same scheme."""
        return f"{SCHEME_VERSION}/{self.ngram}-word/{self.bands}x{self.rows}/seed-{self.seed}"

    @property
    def num_hashes(self) -> int:
        return self.bands * self.rows

    def collision_probability(self, jaccard: float) -> float:
        return 1.0 - (1.0 - jaccard**self.rows) ** self.bands


def _word_byte_map() -> np.ndarray:
    """Byte -> byte: ASCII letters and digits kept, upper case made lower, every other byte
    (punctuation, the underscore, whitespace, any byte of a non-ASCII character) a space. The
    underscore separates, as in datatrove's normalisation: `max_results` and `max_tokens` share
    a word, as they do for a reader."""
    table = np.full(256, ord(" "), dtype=np.uint8)
    for c in b"0123456789abcdefghijklmnopqrstuvwxyz":
        table[c] = c
    for c in b"ABCDEFGHIJKLMNOPQRSTUVWXYZ":
        table[c] = c + 32
    return table


_WORD_BYTES = _word_byte_map()


def _word_hashes(texts: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Per-word 64-bit hashes of the whole batch (flat) and each document's word offsets.

    Words are the runs of ASCII letters and digits, lower-cased, with every digit run made "0".
    Case and separators are mapped byte by byte over the batch's one text buffer (the result is
    ASCII, so still valid UTF-8); digits are folded on the batch's distinct words only (agent
    trajectories are templated: few distinct words, many repeats), and each distinct word is
    hashed once."""
    texts = pc.fill_null(texts.cast(pa.large_string()), "")
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks()
    # Only this array's bytes (a slice shares its parent's buffer), rebased to start at 0.
    text_offsets = np.frombuffer(texts.buffers()[1], dtype=np.int64)[
        texts.offset : texts.offset + len(texts) + 1
    ]
    data = texts.buffers()[2]
    first, last = int(text_offsets[0]), int(text_offsets[-1])
    raw = np.frombuffer(data, dtype=np.uint8)[first:last] if data is not None else np.zeros(0)
    ascii_texts = pa.Array.from_buffers(
        pa.large_string(),
        len(texts),
        [None, pa.py_buffer(text_offsets - first), pa.py_buffer(_WORD_BYTES[raw])],
    )
    words = pc.ascii_split_whitespace(pc.ascii_trim_whitespace(ascii_texts))
    offsets = np.asarray(words.offsets, dtype=np.int64)
    offsets = offsets - offsets[0]
    flat = words.flatten()
    if len(flat) == 0:
        return np.zeros(0, dtype=np.uint64), offsets
    encoded = flat.dictionary_encode()
    vocab = pc.replace_substring_regex(encoded.dictionary, r"[0-9]+", "0")
    vocab_hashes = np.fromiter(
        (xxhash.xxh3_64_intdigest(w) for w in vocab.cast(pa.large_binary()).to_pylist()),
        dtype=np.uint64,
        count=len(vocab),
    )
    indices = encoded.indices.to_numpy(zero_copy_only=False)
    # A text with no word splits into one empty word: that is no word.
    if not bool(pc.any(pc.equal(pc.binary_length(encoded.dictionary), 0)).as_py()):
        return vocab_hashes[indices], offsets
    real = np.asarray(pc.greater(pc.binary_length(encoded.dictionary), 0), dtype=bool)
    keep = real[indices]
    kept_before = np.zeros(len(keep) + 1, dtype=np.int64)
    np.cumsum(keep, out=kept_before[1:])
    return vocab_hashes[indices[keep]], kept_before[offsets]


def shingle_hashes(texts: pa.Array, ngram: int) -> tuple[np.ndarray, np.ndarray]:
    """Hashes of every `ngram`-word shingle, flat, and each document's [start, end) into them."""
    word_h, offsets = _word_hashes(texts)
    lengths = np.diff(offsets)
    n_docs = len(lengths)
    total = len(word_h)
    n_windows = max(total - ngram + 1, 0)
    windows = word_h[:n_windows].copy()
    with np.errstate(over="ignore"):
        for k in range(1, ngram):
            windows *= _WINDOW_PRIME
            windows += word_h[k : n_windows + k]
    # A window is a shingle when it ends inside the document it starts in.
    doc_end = np.repeat(offsets[1:], lengths)[:n_windows]
    full = windows[np.arange(ngram, n_windows + ngram) <= doc_end]
    full_counts = np.maximum(lengths - ngram + 1, 0)
    short = (lengths > 0) & (lengths < ngram)
    counts = full_counts + short.astype(np.int64)
    starts = np.zeros(n_docs + 1, dtype=np.int64)
    np.cumsum(counts, out=starts[1:])
    if not short.any():
        return full, starts
    # A document shorter than one shingle: one shingle, the hash of all its words.
    out = np.empty(int(starts[-1]), dtype=np.uint64)
    is_full = np.ones(len(out), dtype=bool)
    for d in np.flatnonzero(short):
        acc = np.uint64(0)
        with np.errstate(over="ignore"):
            for h in word_h[offsets[d] : offsets[d + 1]]:
                acc = acc * _WINDOW_PRIME + h
        out[starts[d]] = acc
        is_full[starts[d]] = False
    out[is_full] = full
    return out, starts


class MinHasher:
    """Signatures and band keys for batches of texts, with one fixed hash function."""

    def __init__(self, config: MinHashConfig | None = None) -> None:
        self.config = config or MinHashConfig()
        rng = np.random.default_rng(self.config.seed)
        self._seed = rng.integers(0, 2**63, dtype=np.uint64)
        self._band_mix = rng.integers(1, 2**63, size=self.config.rows, dtype=np.uint64)
        self._probes = np.zeros((0, self.config.num_hashes), dtype=np.int64)

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
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks()
        # Chunk by chunk: the word and shingle temporaries (about ten times the text) stay
        # bounded by the chunk; what is kept (signatures, shingle hashes) is per document.
        sigs, hass, parts, part_starts = [], [], [], []
        offset = 0
        for lo in range(0, len(arr), _CHUNK_DOCS):
            shingles, starts = shingle_hashes(arr.slice(lo, _CHUNK_DOCS), self.config.ngram)
            sig, has = self._one_permutation(shingles, starts)
            sigs.append(sig)
            hass.append(has)
            parts.append(shingles)
            part_starts.append(starts[:-1] + offset)
            offset += int(starts[-1])
        if not sigs:
            empty = np.zeros((0, self.config.num_hashes), dtype=np.uint32)
            return (
                empty,
                np.zeros(0, dtype=bool),
                ShingleSets.of(_NO_SHINGLES, np.zeros(1, np.int64)),
            )
        all_starts = np.concatenate([*part_starts, np.array([offset], dtype=np.int64)])
        return (
            np.concatenate(sigs),
            np.concatenate(hass),
            ShingleSets.of(np.concatenate(parts), all_starts),
        )

    def _one_permutation(
        self, shingles: np.ndarray, starts: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        k = self.config.num_hashes
        n_docs = len(starts) - 1
        counts = np.diff(starts)
        has = counts > 0
        sig = np.full((n_docs, k), _EMPTY, dtype=np.uint32)
        # Blocks of whole documents, so the temporaries stay small.
        block_begin = 0
        while block_begin < n_docs:
            limit = starts[block_begin] + _BLOCK_SHINGLES
            block_end = max(int(np.searchsorted(starts, limit, side="right")) - 1, block_begin + 1)
            lo, hi = int(starts[block_begin]), int(starts[block_end])
            h = _mix(shingles[lo:hi], self._seed)
            # The high half picks the bin (multiply-shift onto [0, k)), the low half is the value.
            cell = ((h >> np.uint64(32)) * np.uint64(k)) >> np.uint64(32)
            doc = np.repeat(
                np.arange(block_end - block_begin, dtype=np.uint64), counts[block_begin:block_end]
            )
            cell += doc * np.uint64(k)
            block = sig[block_begin:block_end].reshape(-1)
            np.minimum.at(block, cell.astype(np.intp), (h & _LOW).astype(np.uint32))
            block_begin = block_end
        self._densify(sig, has)
        return sig, has

    def _densify(self, sig: np.ndarray, has: np.ndarray) -> None:
        """Fill each empty bin of a document with shingles from the first non-empty bin of that
        bin's fixed probe sequence (optimal densification, Shrivastava 2017): two documents fill
        bin i from the same bin exactly when that bin is the first non-empty one in both, so a
        bin still agrees with probability equal to the Jaccard similarity."""
        empty = sig == _EMPTY
        empty &= has[:, None]
        filled = ~empty
        docs, bins = np.nonzero(empty)
        attempt = 0
        while len(docs):
            source = self._probe(attempt)[bins]
            ok = filled[docs, source]
            sig[docs[ok], bins[ok]] = sig[docs[ok], source[ok]]
            docs, bins = docs[~ok], bins[~ok]
            attempt += 1

    def _probe(self, attempt: int) -> np.ndarray:
        """The bin each bin borrows from at `attempt` (a fixed pseudo-random sequence per bin;
        a document with at least one shingle is filled after ~k ln k attempts at most)."""
        k = self.config.num_hashes
        while len(self._probes) <= attempt:
            t = np.uint64(len(self._probes))
            key = np.arange(k, dtype=np.uint64) + t * np.uint64(k)
            h = _mix(key, self._seed ^ _WINDOW_PRIME)
            row = (((h >> np.uint64(32)) * np.uint64(k)) >> np.uint64(32)).astype(np.int64)
            self._probes = np.vstack([self._probes, row[None, :]])
        return self._probes[attempt]

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
