"""bronze.event_keys: the persistent index of stored event ids (docs/ingest.md, "Deduplication
against history").

Deciding a staged event (new, duplicate, `id_conflict`) needs the content hash stored under its
id, if any. Without this index every writer reads `event_id` and `content_hash` of every
bronze.events file when it starts: O(table) time and memory per process. With it a writer reads
the index's candidate row groups for its batch's ids, and the bronze rows the index does not
cover yet (the tail) directly.

Layout: one row per stored event: `id_hash` (xxh3-64 of the event id, as int64), `event_id`,
`content_hash`. Each file is sorted by `id_hash` and cut into row groups of
`ingest.key_index_row_group_rows` keys, each with min/max statistics and a Parquet split-block
Bloom filter on `id_hash` (the standard one: any Parquet reader can use it). `id_hash` and
`content_hash` are written uncompressed, PLAIN, one data page per column chunk, so the value of
row r lies at a byte offset computed from the footer; the footer also holds every 256th id_hash
of each row group (the fences).

A lookup takes, per file, the row group whose id_hash range holds the id (from the footer) and
asks its Bloom filter: a new id (most of a batch) stops there. For an id that passes, the fences
give the 256 rows that can hold its hash; one small read of their id_hash values settles it:
no row with the hash means the id is not stored (the hash is a function of the id), and a row
whose stored content hash equals one the batch brings for that id is that very event (the
content hash covers the event id: only a 128-bit collision could mislead it, the risk content
hashes already carry). Anything else (an id stored with other content: a conflict, a legacy
hash, or two ids sharing an id hash) is decided exactly by reading its row group's `event_id`s.
Every read is checked against the fences (a block's first value is its fence): a file whose
layout is not this one is read row group by row group, as any Parquet reader would.

Coverage: a commit that adds keys carries the app transaction `tracelake-event-keys-<bronze
table id>` at the bronze.events version V it covers: every row of that snapshot is in the index
(a key may be there twice until a merge; extra keys are harmless, missing ones never happen).
Rows committed after V are found by walking bronze's JSON commits after V
(`rows_added_since`): files added with dataChange, and files a compaction wrote from such
files. A compaction of covered files moves no new rows, so it costs nothing; a commit that
removes data (an erasure) makes the index unusable until it is rebuilt, as the stored set then
shrank. The bronze table id in the app id ties the index to one bronze.events: a recreated
bronze table has no coverage and the index is rebuilt.
"""

from __future__ import annotations

import base64
import json
import logging
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from deltalake import DeltaTable
from deltalake.transaction import AddAction, RemoveAction

from ..errors import TracelakeError
from ..lake import catalog
from ..lake.commits import commit_properties
from ..lake.files import WrittenFile, delete_files, file_stats
from ..lake.store import DataFile, Lake, pyarrow_filesystem, read_data_file
from . import hashing

log = logging.getLogger("tracelake.ingest.event_keys")

EVENTS = catalog.BRONZE_EVENTS
KEYS = catalog.BRONZE_EVENT_KEYS
COVERAGE_APP = "tracelake-event-keys"
KEY_COLUMNS = ["event_id", "content_hash"]
# Bloom false-positive rate asked per row group. pyarrow rounds a filter up to a power of two
# bytes: rates from 0.001 to 0.02 all give 16 bits a key (measured 0.14% false positives),
# 0.03 gives 8 bits a key (3.4%). Every writer process holds the filters of the whole index,
# the one part of its memory that grows with the lake, so half of it is worth the 3% of new
# ids that then cost a 2 KiB read of their fence block (no row group: see settle).
BLOOM_FPP = 0.03
# Row groups read per pyarrow call: bounds the memory of a lookup's reads.
READ_ROW_GROUPS = 16
# Footer key holding every row group's (min, max) id_hash as little-endian int64 pairs: the
# same as the row groups' statistics, readable without a Python call per row group.
RANGES_KEY = b"tracelake.id_hash_ranges"
# Footer key holding every FENCE_ROWS-th id_hash of each row group (rows 0, FENCE_ROWS, ...), row
# groups in order, as little-endian int64: what locates an id's rows inside a row group.
FENCES_KEY = b"tracelake.id_hash_fences"
FENCE_ROWS = 256
# A content hash is 32 hex digits (xxh3-128, or blake2b-128 for tracelake 0.1 rows): stored as
# a PLAIN byte array, each value is its 4-byte length and the digits.
CONTENT_HASH_CHARS = 32
_CONTENT_STRIDE = 4 + CONTENT_HASH_CHARS
_CONTENT_PREFIX = CONTENT_HASH_CHARS.to_bytes(4, "little")
# Reads nearer than this are merged into one (one request to an object store).
COALESCE_BYTES = 64 * 1024


# -- hashing -----------------------------------------------------------------------------------


def id_hashes(ids: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """xxh3-64 of each event id's UTF-8 bytes, as int64: the index's sort key. Hashed in place
    from the Arrow buffers (no Python string per id)."""
    flat = ids.combine_chunks() if isinstance(ids, pa.ChunkedArray) else ids
    return hashing.xxh3_64(flat).view(np.int64)


_P1 = np.uint64(0x9E3779B185EBCA87)
_P2 = np.uint64(0xC2B2AE3D27D4EB4F)
_P3 = np.uint64(0x165667B19E3779F9)
_P4 = np.uint64(0x85EBCA77C2B2AE63)
_P5 = np.uint64(0x27D4EB2F165667C5)


def _rotl(x: np.ndarray, bits: int) -> np.ndarray:
    return (x << np.uint64(bits)) | (x >> np.uint64(64 - bits))


def xxh64_of_int64(values: np.ndarray) -> np.ndarray:
    """XXH64 (seed 0) of each int64's 8-byte little-endian encoding: how Parquet's Bloom filters
    hash an INT64 value. The algorithm for an 8-byte input, vectorised."""
    k = values.astype("<i8").view(np.uint64)
    with np.errstate(over="ignore"):
        h = np.full(len(k), _P5 + np.uint64(8), np.uint64)
        k1 = _rotl(k * _P2, 31) * _P1
        h ^= k1
        h = _rotl(h, 27) * _P1 + _P4
        h ^= h >> np.uint64(33)
        h *= _P2
        h ^= h >> np.uint64(29)
        h *= _P3
        h ^= h >> np.uint64(32)
    return h


# The split-block Bloom filter's salts (Parquet format specification).
_SALT = np.array(
    [
        0x47B6137B,
        0x44974D91,
        0x8824AD5B,
        0xA2B7289D,
        0x705495C7,
        0x2DF1424B,
        0x9EFC4947,
        0x5C6BFB31,
    ],
    np.uint32,
)


def _bitset_bytes(header: bytes) -> int | None:
    """The bitset size a Parquet BloomFilterHeader announces (Thrift compact protocol: its first
    field, numBytes, is an i32), or None for a layout this reader does not know."""
    if len(header) < 2 or header[0] != 0x15:
        return None
    value = shift = 0
    for byte in header[1:6]:
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            size = (value >> 1) ^ -(value & 1)
            return size if 0 < size < len(header) and size % 32 == 0 else None
    return None


# -- one index file ----------------------------------------------------------------------------


@dataclass
class FixedLayout:
    """Where a file this module wrote keeps its values: row r of row group g has its id_hash at
    byte `id_at[g] + 8r` and its content hash (length prefix, then digits) at
    `content_at[g] + 36r`. Row group g's fences are `fences[fence_start[g]:]`, one per
    FENCE_ROWS rows."""

    rows: np.ndarray
    id_at: np.ndarray
    content_at: np.ndarray
    fences: np.ndarray
    fence_start: np.ndarray

    def blocks(self, groups: np.ndarray, hashes: np.ndarray, ordered: bool) -> np.ndarray:
        """(first fence, end fence) of each id hash's rows in its row group: from the fence
        before it to the first fence above it (more than one block only when the hash equals
        a fence, as equal hashes may straddle it). `ordered`: the row groups are in id_hash
        order, so all fences together are sorted and one search serves every group."""
        first = self.fence_start[groups]
        end = first + -(-self.rows[groups] // FENCE_ROWS)
        if ordered:
            lo = np.searchsorted(self.fences, hashes, "left") - 1
            hi = np.searchsorted(self.fences, hashes, "right")
        else:
            lo = np.empty(len(groups), np.int64)
            hi = np.empty(len(groups), np.int64)
            for k, (a, b, h) in enumerate(zip(first, end, hashes, strict=True)):
                fences = self.fences[a:b]
                lo[k] = a + np.searchsorted(fences, h, "left") - 1
                hi[k] = a + np.searchsorted(fences, h, "right")
        lo = np.clip(lo, first, end - 1)
        return np.stack([lo, np.clip(hi, lo + 1, end)], axis=1)


@dataclass
class Settled:
    """What the fixed layout decided for a lookup's candidates."""

    stored: list[tuple[int, str]]  # (candidate, its content hash): stored with that content
    unsettled: np.ndarray  # bool per candidate: decide by reading the row group
    rows_read: int


@dataclass
class KeyFile:
    """What a lookup needs of one index file: its footer, each row group's id_hash range and
    Bloom filter bitset (in `bloom_bytes`, as read: no copy), and where its values lie
    when this module wrote it."""

    uri: str
    metadata: pq.FileMetaData
    mins: np.ndarray
    maxs: np.ndarray
    bloom_bytes: np.ndarray  # uint8
    bloom_start: np.ndarray  # first byte of each row group's bitset; -1: no filter
    bloom_blocks: np.ndarray  # 32-byte blocks in each row group's bitset
    layout: FixedLayout | None = None
    is_sorted: bool = field(init=False)

    def __post_init__(self) -> None:
        # Row group ranges in id_hash order (what this module writes; a file rewritten by
        # another tool may not be, and is then searched range by range).
        self.is_sorted = bool(np.all(np.diff(self.mins) >= 0) and np.all(np.diff(self.maxs) >= 0))

    def candidates(self, hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(position in `hashes`, row group) pairs that may hold the id: the row group's id_hash
        range holds it and its Bloom filter does not rule it out."""
        if not len(self.mins) or not len(hashes):
            return np.empty(0, np.int64), np.empty(0, np.int64)
        if self.is_sorted:
            first = np.searchsorted(self.maxs, hashes, "left")
            end = np.searchsorted(self.mins, hashes, "right")
            counts = np.maximum(end - first, 0)
            positions = np.repeat(np.arange(len(hashes)), counts)
            within = np.arange(len(positions)) - np.repeat(np.cumsum(counts) - counts, counts)
            groups = np.repeat(first, counts) + within
        else:
            pairs = [
                (np.flatnonzero((hashes >= lo) & (hashes <= hi)), rg)
                for rg, (lo, hi) in enumerate(zip(self.mins, self.maxs, strict=True))
            ]
            positions = np.concatenate([p for p, _ in pairs])
            groups = np.concatenate([np.full(len(p), rg) for p, rg in pairs])
        keep = self._may_contain(hashes[positions], groups)
        return positions[keep].astype(np.int64), groups[keep].astype(np.int64)

    def _may_contain(self, hashes: np.ndarray, groups: np.ndarray) -> np.ndarray:
        start = self.bloom_start[groups]
        filtered = start >= 0
        result = np.ones(len(hashes), bool)
        if not filtered.any():
            return result
        h = xxh64_of_int64(hashes[filtered])
        blocks = self.bloom_blocks[groups[filtered]].astype(np.uint64)
        block = ((h >> np.uint64(32)) * blocks) >> np.uint64(32)
        first_byte = start[filtered] + block.astype(np.int64) * 32
        words = self.bloom_bytes[first_byte[:, None] + np.arange(32)].view("<u4")
        key = (h & np.uint64(0xFFFFFFFF)).astype(np.uint32)
        masks = np.left_shift(np.uint32(1), (key[:, None] * _SALT[None, :]) >> np.uint32(27))
        result[filtered] = np.all((words & masks) != 0, axis=1)
        return result

    def settle(
        self,
        hashes: np.ndarray,
        groups: np.ndarray,
        contents: Sequence[str | None],
        storage_options: dict[str, str],
    ) -> Settled:
        """Decide candidates (id hash, row group, the content hash the batch brings or None)
        from their fence blocks' id_hash values and the matching rows' content hashes: two
        rounds of small reads, no row group decoded."""
        layout = self.layout
        assert layout is not None
        n = len(groups)
        groups = groups.astype(np.int64)
        blocks = layout.blocks(groups, hashes, self.is_sorted)
        row_lo = (blocks[:, 0] - layout.fence_start[groups]) * FENCE_ROWS
        row_hi = np.minimum(
            (blocks[:, 1] - layout.fence_start[groups]) * FENCE_ROWS, layout.rows[groups]
        )
        lengths = row_hi - row_lo
        fs, path = pyarrow_filesystem(self.uri, storage_options)
        with fs.open_input_file(path) as source:
            starts = layout.id_at[groups] + 8 * row_lo
            raw = _read_ranges(
                source, list(zip(starts.tolist(), (8 * lengths).tolist(), strict=True))
            )
            short = np.array([len(r) for r in raw]) != 8 * lengths
            values = np.frombuffer(
                b"".join(
                    bytes(8 * int(m)) if s else r
                    for r, m, s in zip(raw, lengths, short, strict=True)
                ),
                "<i8",
            )
            offsets = np.cumsum(lengths) - lengths
            # Each block read must start with its fence: otherwise the values are not where the
            # layout says, and the row group decides.
            per = blocks[:, 1] - blocks[:, 0]
            owner = np.repeat(np.arange(n), per)
            fence = blocks[owner, 0] + np.arange(len(owner)) - np.repeat(np.cumsum(per) - per, per)
            misplaced = (
                values[offsets[owner] + (fence - blocks[owner, 0]) * FENCE_ROWS]
                != layout.fences[fence]
            )
            unsettled = short.copy()
            unsettled[owner[misplaced]] = True
            at = np.flatnonzero(values == np.repeat(hashes, lengths))
            holder = np.repeat(np.arange(n), lengths)[at]
            rows = row_lo[holder] + at - offsets[holder]
            brought = np.array([c is not None for c in contents], bool)
            unsettled[holder[~brought[holder]]] = True  # stored under this hash: compare ids
            asked = brought[holder] & ~unsettled[holder]
            holder, rows = holder[asked], rows[asked]
            digests = _read_ranges(
                source,
                list(
                    zip(
                        (layout.content_at[groups[holder]] + _CONTENT_STRIDE * rows).tolist(),
                        [_CONTENT_STRIDE] * len(rows),
                        strict=True,
                    )
                ),
            )
        same = np.zeros(n, bool)
        for k, digest in zip(holder.tolist(), digests, strict=True):
            if digest[:4] == _CONTENT_PREFIX and bytes(digest[4:]).decode("ascii") == contents[k]:
                same[k] = True
        # Stored under this hash with other content only: a conflict, or another id.
        unsettled[holder[~same[holder]]] = True
        unsettled[same] = False
        stored = [(k, str(contents[k])) for k in np.flatnonzero(same).tolist()]
        return Settled(stored, unsettled, int(lengths.sum()))

    def read(
        self, groups: np.ndarray, wanted: pa.Array, storage_options: dict[str, str]
    ) -> tuple[pa.Table, int]:
        """The rows of `groups` whose event_id is in `wanted`, and how many rows were read."""
        fs, path = pyarrow_filesystem(self.uri, storage_options)
        found: list[pa.Table] = []
        rows_read = 0
        with fs.open_input_file(path) as source:
            parquet = pq.ParquetFile(source, metadata=self.metadata)
            ordered = np.unique(groups).tolist()
            for at in range(0, len(ordered), READ_ROW_GROUPS):
                part = parquet.read_row_groups(
                    ordered[at : at + READ_ROW_GROUPS], columns=KEY_COLUMNS, use_threads=False
                )
                rows_read += part.num_rows
                found.append(part.filter(pc.is_in(part["event_id"], value_set=wanted)))
        return pa.concat_tables(found) if found else _empty_keys(), rows_read


def _read_ranges(source: Any, ranges: Sequence[tuple[int, int]]) -> list[memoryview]:
    """The bytes of each (offset, length), reading ranges that lie close together at once (up
    to 1 MiB a read: a merged read must not cost the memory the index saves)."""
    out: list[memoryview] = [memoryview(b"")] * len(ranges)
    order = sorted(range(len(ranges)), key=lambda i: ranges[i][0])
    i = 0
    while i < len(order):
        start = ranges[order[i]][0]
        end = start + ranges[order[i]][1]
        j = i + 1
        while j < len(order):
            at, length = ranges[order[j]]
            if at > end + COALESCE_BYTES or max(end, at + length) - start > 2**20:
                break
            end = max(end, at + length)
            j += 1
        data = memoryview(source.read_at(end - start, start))
        for k in order[i:j]:
            at, length = ranges[k]
            out[k] = data[at - start : at - start + length]
        i = j
    return out


_KEY_SCHEMA = pa.schema([KEYS.schema.field(c) for c in KEY_COLUMNS])


def _empty_keys() -> pa.Table:
    return _KEY_SCHEMA.empty_table()


def load_key_file(uri: str, storage_options: dict[str, str], regular: bool = True) -> KeyFile:
    """Read an index file's footer and Bloom filters (its data stays on storage). `regular`
    tries the fast way for files this module wrote first."""
    fs, path = pyarrow_filesystem(uri, storage_options)
    with fs.open_input_file(path) as source:
        metadata = pq.ParquetFile(source).metadata
        fast = _load_regular(uri, metadata, source) if regular else None
        return fast or _load_by_row_group(uri, metadata, source)


def _load_by_row_group(uri: str, metadata: pq.FileMetaData, source: Any) -> KeyFile:
    """Any layout: each row group's statistics and Bloom filter location from the footer."""
    n = metadata.num_row_groups
    column = metadata.schema.names.index("id_hash")
    mins = np.empty(n, np.int64)
    maxs = np.empty(n, np.int64)
    offsets = np.full(n, -1, np.int64)
    lengths = np.zeros(n, np.int64)
    for rg in range(n):
        chunk = metadata.row_group(rg).column(column)
        stats = chunk.statistics
        if stats is not None and stats.has_min_max:
            mins[rg], maxs[rg] = stats.min, stats.max
        else:  # no range: the row group may hold any id
            mins[rg], maxs[rg] = np.iinfo(np.int64).min, np.iinfo(np.int64).max
        if chunk.bloom_filter_offset is not None and chunk.bloom_filter_length:
            offsets[rg], lengths[rg] = chunk.bloom_filter_offset, chunk.bloom_filter_length
    words, start, blocks = _read_blooms(source, offsets, lengths)
    return KeyFile(uri, metadata, mins, maxs, words, start, blocks)


def _load_regular(uri: str, metadata: pq.FileMetaData, source: Any) -> KeyFile | None:
    """The fast way for files this module wrote: row-group ranges from one footer key, and
    filters of one size back to back (pyarrow sizes a filter for the row group's keys, so the
    last, shorter row group's may be smaller), read at once and sliced. None for any other
    layout (the caller then asks the footer row group by row group)."""
    n = metadata.num_row_groups
    footer = metadata.metadata or {}  # a fresh copy of the footer keys at every access
    raw = footer.get(RANGES_KEY)
    if not n or raw is None:
        return None
    ranges = np.frombuffer(base64.b64decode(raw), "<i8")
    if len(ranges) != 2 * n:
        return None
    column = metadata.schema.names.index("id_hash")
    first, last = metadata.row_group(0).column(column), metadata.row_group(n - 1).column(column)
    offset, size = first.bloom_filter_offset, first.bloom_filter_length
    last_size = last.bloom_filter_length
    if offset is None or not size or not last_size:
        return None
    if last.bloom_filter_offset != offset + (n - 1) * size:
        return None
    data = np.frombuffer(source.read_at((n - 1) * size + last_size, offset), np.uint8)
    region = data[: (n - 1) * size].reshape(n - 1, size)
    nbytes = _bitset_bytes(bytes(data[:size]))
    tail = data[(n - 1) * size :]
    tail_bytes = _bitset_bytes(bytes(tail))
    if nbytes is None or tail_bytes is None:
        return None
    header = size - nbytes
    if not np.array_equal(region[:, :header], np.broadcast_to(data[:header], (n - 1, header))):
        return None
    # The bitsets stay where they were read (16 bits a key: no copy of them is made).
    start = np.arange(n, dtype=np.int64) * size + header
    start[-1] = len(data) - tail_bytes
    blocks = np.full(n, nbytes // 32, np.int64)
    blocks[-1] = tail_bytes // 32
    mins, maxs = ranges[0::2].copy(), ranges[1::2].copy()
    layout = _fixed_layout(metadata, footer, mins)
    return KeyFile(uri, metadata, mins, maxs, data, start, blocks, layout)


def _fixed_layout(
    metadata: pq.FileMetaData, footer: dict[bytes, bytes], mins: np.ndarray
) -> FixedLayout | None:
    """Where the values of a file written by `_write_key_file` lie, from its footer; None when
    the footer does not describe that layout (no fences, compressed or dictionary-encoded
    chunks, a chunk not the size its rows make, fences that do not start at each row group's
    minimum)."""
    raw = footer.get(FENCES_KEY)
    if raw is None:
        return None
    fences = np.frombuffer(base64.b64decode(raw), "<i8")
    names = metadata.schema.names
    n = metadata.num_row_groups
    rows = np.empty(n, np.int64)
    id_at = np.empty(n, np.int64)
    content_at = np.empty(n, np.int64)
    for rg in range(n):
        group = metadata.row_group(rg)
        rows[rg] = group.num_rows
        for name, stride, at in (
            ("id_hash", 8, id_at),
            ("content_hash", _CONTENT_STRIDE, content_at),
        ):
            chunk = group.column(names.index(name))
            header = chunk.total_compressed_size - stride * group.num_rows
            if chunk.compression != "UNCOMPRESSED" or chunk.has_dictionary_page or header <= 0:
                return None
            at[rg] = chunk.data_page_offset + header
    counts = -(-rows // FENCE_ROWS)
    if int(counts.sum()) != len(fences):
        return None
    fence_start = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    if not np.array_equal(fences[fence_start], mins):
        return None
    return FixedLayout(rows, id_at, content_at, fences, fence_start)


def _read_blooms(
    source: Any, offsets: np.ndarray, lengths: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every row group's Bloom filter bitset, in one read when they lie together (pyarrow
    writes them after the data, before the footer)."""
    n = len(offsets)
    start = np.full(n, -1, np.int64)
    blocks = np.zeros(n, np.int64)
    present = np.flatnonzero(offsets >= 0)
    if not len(present):
        return np.empty(0, np.uint8), start, blocks
    lo = int(offsets[present].min())
    hi = int((offsets + lengths)[present].max())
    together = hi - lo <= 2 * int(lengths[present].sum())
    region = source.read_at(hi - lo, lo) if together else b""
    bitsets: list[np.ndarray] = []
    at_byte = 0
    for rg in present.tolist():
        at, size = int(offsets[rg]), int(lengths[rg])
        raw = region[at - lo : at - lo + size] if together else source.read_at(size, at)
        nbytes = _bitset_bytes(raw)
        if nbytes is None:
            continue  # a filter this reader does not know: the row group is always read
        bitsets.append(np.frombuffer(raw[len(raw) - nbytes :], np.uint8))
        start[rg], blocks[rg] = at_byte, nbytes // 32
        at_byte += nbytes
    return (np.concatenate(bitsets) if bitsets else np.empty(0, np.uint8)), start, blocks


# -- the index ---------------------------------------------------------------------------------


@dataclass
class KeyIndex:
    """bronze.event_keys as of one snapshot: the bronze.events version it covers, its files."""

    covered_version: int
    table_version: int  # of bronze.event_keys
    files: list[KeyFile]
    storage_options: dict[str, str]
    row_groups_read: int = 0  # decoded whole by lookups (conflicts, other layouts): tests bound it

    def lookup(self, ids: pa.Array, contents: pa.Array | None = None) -> tuple[dict[str, str], int]:
        """Stored ids among `ids` with their content hashes, and the index rows read.
        `contents`: the content hash each id comes with, which lets a stored copy of it be
        confirmed without reading its row group (see the module docstring)."""
        if not len(ids) or not self.files:
            return {}, 0
        hashes = id_hashes(ids)
        found: dict[str, str] = {}
        rows_read = 0
        for key_file in self.files:
            positions, groups = key_file.candidates(hashes)
            if len(groups) and key_file.layout is not None:
                brought = (
                    contents.take(pa.array(positions)).to_pylist()
                    if contents is not None
                    else [None] * len(positions)
                )
                settled = key_file.settle(hashes[positions], groups, brought, self.storage_options)
                rows_read += settled.rows_read
                if settled.stored:
                    at = [k for k, _ in settled.stored]
                    stored_ids = ids.take(pa.array(positions[at])).to_pylist()
                    found.update(zip(stored_ids, (c for _, c in settled.stored), strict=True))
                positions, groups = positions[settled.unsettled], groups[settled.unsettled]
            if not len(groups):
                continue
            wanted = ids.take(pa.array(positions)).cast(pa.string())
            rows, read = key_file.read(groups, wanted, self.storage_options)
            rows_read += read
            self.row_groups_read += len(np.unique(groups))
            found.update(
                zip(rows["event_id"].to_pylist(), rows["content_hash"].to_pylist(), strict=True)
            )
        return found, rows_read


def coverage_app(events: DeltaTable) -> str:
    """The index's app id for this bronze.events (its Delta table id)."""
    return f"{COVERAGE_APP}-{events.metadata().id}"


def open_index(
    lake: Lake,
    events: DeltaTable,
    loaded: Sequence[KeyFile] = (),
    table: DeltaTable | None = None,
) -> KeyIndex | None:
    """The index as it is now (or as of `table`, an opened bronze.event_keys), or None when it
    covers no version of this bronze.events. Files already in `loaded` are not read again
    (index files never change)."""
    if table is None:
        table = lake.table(KEYS)
    if table is None:
        return None
    covered = table.transaction_version(coverage_app(events))
    if covered is None:
        return None
    cache = {f.uri: f for f in loaded}
    files = [
        cache.get(f.uri) or load_key_file(f.uri, dict(lake.storage_options))
        for f in lake.files(KEYS, version=table.version())
    ]
    return KeyIndex(covered, table.version(), files, dict(lake.storage_options))


# -- bronze rows the index does not cover ------------------------------------------------------


@dataclass
class NewRows:
    """Where the bronze.events rows committed after some version are now."""

    paths: set[str] = field(default_factory=set)  # live files (relative, unquoted) to read
    removed_data: bool = False  # a commit removed rows (an erasure)


def rows_added_since(lake: Lake, after: int, upto: int) -> NewRows | None:
    """The live bronze.events files holding the rows committed in (after, upto], from the JSON
    commits: files added with dataChange, and what a compaction wrote from such files (all of
    its output: over-reading covered rows is harmless). A compaction of files holding only
    older rows adds nothing. None when a commit's JSON is gone (log cleanup)."""
    fs, root = pyarrow_filesystem(lake.uri(EVENTS), lake.storage_options)
    new = NewRows()
    for version in range(after + 1, upto + 1):
        try:
            with fs.open_input_stream(f"{root}/_delta_log/{version:020d}.json") as stream:
                lines = stream.read().splitlines()
        except FileNotFoundError:
            return None
        actions = [json.loads(line) for line in lines if line.strip()]
        removes = [a["remove"] for a in actions if "remove" in a]
        adds = [a["add"] for a in actions if "add" in a]
        new.removed_data |= any(r.get("dataChange", True) for r in removes)
        removed = {unquote(r["path"]) for r in removes}
        moved_new_rows = bool(removed & new.paths)
        new.paths -= removed
        new.paths |= {
            unquote(a["path"]) for a in adds if a.get("dataChange", True) or moved_new_rows
        }
    return new


def live_paths(events: DeltaTable) -> set[str]:
    """Every live file of a bronze.events snapshot (relative, unquoted)."""
    actions = pa.table(events.get_add_actions(flatten=True))
    return {unquote(p) for p in actions["path"].to_pylist()} if actions.num_rows else set()


def read_keys(lake: Lake, paths: Iterable[str]) -> pa.Table:
    """event_id and content_hash of bronze.events files (relative paths)."""
    root = lake.uri(EVENTS)
    parts = [
        read_data_file(
            DataFile(path if "://" in path else f"{root}/{path}", 0, 0, {}),
            EVENTS,
            KEY_COLUMNS,
            lake.storage_options,
        )
        for path in sorted(paths)
    ]
    return pa.concat_tables(parts) if parts else _empty_keys()


# -- writing -----------------------------------------------------------------------------------


def sorted_keys(keys: pa.Table) -> pa.Table:
    """Index rows (id_hash, event_id, content_hash) sorted by id_hash, exact repeats dropped."""
    ids = keys["event_id"].combine_chunks()
    hashes = id_hashes(ids)
    # Stable: an id's repeats are adjacent (one hash) and dropped below; two ids sharing a hash
    # may interleave their repeats, which only keeps a repeat.
    order = np.argsort(hashes, kind="stable")
    table = pa.table(
        {
            "id_hash": pa.array(hashes[order], pa.int64()),
            "event_id": ids.take(pa.array(order)),
            "content_hash": keys["content_hash"].combine_chunks().take(pa.array(order)),
        },
        schema=KEYS.schema,
    )
    sorted_hashes = hashes[order]
    candidates = np.flatnonzero(sorted_hashes[1:] == sorted_hashes[:-1]) + 1
    if not len(candidates):  # no two rows share an id hash: nothing repeats
        return table
    # Rows sharing their predecessor's hash (few): a repeat when every column matches.
    here = pa.array(candidates)
    before = pa.array(candidates - 1)
    repeat = np.ones(len(candidates), bool)
    for column in ("event_id", "content_hash"):
        values = table[column].combine_chunks()
        repeat &= np.asarray(pc.equal(values.take(here), values.take(before)).fill_null(False))
    keep = np.ones(table.num_rows, bool)
    keep[candidates[repeat]] = False
    return table.filter(pa.array(keep))


def write_key_files(
    lake: Lake, keys: pa.Table, row_group_rows: int, file_rows: int
) -> list[WrittenFile]:
    """Write sorted index rows as files of at most `file_rows` keys (at least one file, so a
    commit always has something to add). Nothing is visible until committed."""
    lake.ensure(KEYS)
    fs, root = pyarrow_filesystem(lake.uri(KEYS), lake.storage_options)
    written: list[WrittenFile] = []
    try:
        for at in range(0, max(keys.num_rows, 1), file_rows):
            written.append(
                _write_key_file(fs, root, keys.slice(at, file_rows), row_group_rows, lake)
            )
    except BaseException:
        delete_files(fs, root, written)
        raise
    return written


def _write_key_file(
    fs: Any, root: str, keys: pa.Table, row_group_rows: int, lake: Lake
) -> WrittenFile:
    name = f"part-{uuid.uuid4()}-c000.snappy.parquet"
    collector: list[pq.FileMetaData] = []
    hashes = keys["id_hash"].to_numpy()
    starts = np.arange(0, len(hashes), row_group_rows)
    ends = np.minimum(starts + row_group_rows, len(hashes)) - 1
    ranges = np.stack([hashes[starts], hashes[ends]], axis=1).astype("<i8")
    fences = np.concatenate(
        [hashes[a : b + 1 : FENCE_ROWS] for a, b in zip(starts, ends, strict=True)] or [[]]
    ).astype("<i8")
    footer = {
        RANGES_KEY: base64.b64encode(ranges.tobytes()),
        FENCES_KEY: base64.b64encode(fences.tobytes()),
    }
    keys = keys.replace_schema_metadata(None)
    writer = pq.ParquetWriter(
        f"{root}/{name}",
        KEYS.schema,
        filesystem=fs,
        # id_hash and content_hash at offsets computed from the footer (FixedLayout): plain,
        # uncompressed, one data page per column chunk.
        compression={"id_hash": "none", "event_id": "snappy", "content_hash": "none"},
        data_page_size=2**30,
        max_rows_per_page=2**30,
        use_dictionary=False,
        # No ARROW:schema: it would repeat the footer keys below in base64 (its metadata),
        # doubling the footer every writer reads; the Parquet types say it all.
        store_schema=False,
        write_statistics=["id_hash"],
        bloom_filter_options={"id_hash": {"ndv": row_group_rows, "fpp": BLOOM_FPP}},
        sorting_columns=[pq.SortingColumn(0)],  # other Parquet readers may rely on it too
        metadata_collector=collector,
    )
    try:
        writer.write_table(keys, row_group_size=row_group_rows)
        writer.add_key_value_metadata(footer)
    finally:
        writer.close()
    written = WrittenFile(
        path=quote(name, safe="/=-_.+:"),
        size=fs.get_file_info(f"{root}/{name}").size,
        partition_values={},
        num_records=keys.num_rows,
        stats=json.dumps(file_stats(collector[0], KEYS.schema)),
        modification_time=int(time.time() * 1000),
    )
    _check_finds_its_keys(f"{lake.uri(KEYS)}/{name}", keys, lake, row_group_rows)
    return written


def _check_finds_its_keys(uri: str, keys: pa.Table, lake: Lake, row_group_rows: int) -> None:
    """Keys of a new file must pass their row group's range and Bloom filter: a lookup that
    missed one would store a duplicate. A filter cannot miss a key it holds, so what this
    catches is a writer whose filters this reader does not understand, and that fails for
    nearly every key (a wrong filter lets ~3% through): a sample of each row group (its first
    and last keys and every 256th) finds it at a small part of the cost of all keys. Cheap
    (footer and filters only), before any decision relies on the file."""
    if keys.num_rows == 0:
        return
    key_file = load_key_file(uri, dict(lake.storage_options))
    starts = np.arange(0, keys.num_rows, row_group_rows)
    ends = np.minimum(starts + row_group_rows, keys.num_rows) - 1
    sample = np.unique(np.concatenate([starts, ends, np.arange(0, keys.num_rows, FENCE_ROWS)]))
    hashes = keys["id_hash"].to_numpy()
    positions, _ = key_file.candidates(hashes[sample])
    if len(np.unique(positions)) != len(sample):
        raise TracelakeError(
            f"an index file written to {uri} does not find all of its keys through its row-group "
            "statistics and Bloom filters; set ingest.key_index = false and report this"
        )
    if key_file.layout is None:
        log.warning("index file %s is not in the fixed layout: lookups read its row groups", uri)
        return
    # Its first and last keys, through the offsets: each must be found stored as it is.
    edges = [0, keys.num_rows - 1]
    groups = np.searchsorted(key_file.maxs, hashes[edges], "left")
    contents = keys["content_hash"].take(pa.array(edges)).to_pylist()
    settled = key_file.settle(hashes[edges], groups, contents, dict(lake.storage_options))
    if settled.unsettled.any():
        log.warning("index file %s: values not where its footer says; row groups are read", uri)
    elif len(settled.stored) != len(edges):
        raise TracelakeError(
            f"an index file written to {uri} does not find its keys at the offsets its footer "
            "gives; set ingest.key_index = false and report this"
        )


def _add_actions(files: Sequence[WrittenFile], data_change: bool) -> list[AddAction | RemoveAction]:
    return [
        AddAction(
            path=f.path,
            size=f.size,
            partition_values={},
            modification_time=f.modification_time,
            data_change=data_change,
            stats=f.stats,
        )
        for f in files
    ]


@dataclass
class Chunk:
    """Keys a writer holds that the index may not: rows of bronze.events up to `version`."""

    version: int
    keys: pa.Table  # event_id, content_hash


def append_keys(
    lake: Lake,
    events: DeltaTable,
    chunks: Sequence[Chunk],
    covers: int,
    memory_from: int,
    row_group_rows: int,
    file_rows: int,
) -> int | None:
    """Append the keys of `chunks` newer than the index's coverage, declaring it covers
    bronze.events version `covers`. The caller holds every row committed in
    (`memory_from`, `covers`] (-1: every row); with the index covering less than `memory_from`
    the append would leave a gap, so nothing is written. Returns the index version, or None
    when nothing was written (also when the index already covers `covers`: a retry adds no
    key twice)."""
    table = lake.table(KEYS)
    app = coverage_app(events)
    covered = table.transaction_version(app) if table is not None else None
    if covered is None:
        # Only a writer holding every stored row may start the index, and only an empty one:
        # files left from another bronze.events are removed by a rebuild.
        empty = table is None or not len(live_key_paths(table))
        if memory_from != -1 or not empty:
            return None
        covered = -1
    if covered >= covers or memory_from > covered:
        return None
    parts = [c.keys.select(KEY_COLUMNS).cast(_KEY_SCHEMA) for c in chunks if c.version > covered]
    keys = sorted_keys(pa.concat_tables(parts) if parts else _empty_keys())
    files = write_key_files(lake, keys, row_group_rows, file_rows)
    version = lake.commit_files(
        KEYS, files, app_txn=(app, covers), metadata={"job": "event_keys", "covers": covers}
    )
    if version is None:  # another writer covered this version first
        fs, root = pyarrow_filesystem(lake.uri(KEYS), lake.storage_options)
        delete_files(fs, root, files)
    return version


def live_key_paths(table: DeltaTable) -> list[tuple[str, int, int]]:
    """(path as in the log, size, keys) of every live index file."""
    actions = pa.table(table.get_add_actions(flatten=True))
    if not actions.num_rows:
        return []
    return list(
        zip(
            actions["path"].to_pylist(),
            actions["size_bytes"].to_pylist(),
            actions["num_records"].to_pylist(),
            strict=True,
        )
    )


# -- maintenance -------------------------------------------------------------------------------


@dataclass
class IndexMaintenance:
    action: str = "none"  # none | appended | rebuilt
    covered_version: int | None = None
    keys_added: int = 0
    files_merged: int = 0
    files_written: int = 0

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def rebuild(lake: Lake, row_group_rows: int, file_rows: int) -> IndexMaintenance:
    """Rebuild the index from bronze.events alone: every stored key of its current version,
    replacing whatever the index held (one overwrite commit). Reads the whole table: this is
    the maintenance path, not a writer's."""
    events = lake.ensure(EVENTS)
    version = events.version()
    keys = sorted_keys(read_keys(lake, live_paths(events)))
    files = write_key_files(lake, keys, row_group_rows, file_rows)
    table = lake.ensure(KEYS)
    table.create_write_transaction(
        _add_actions(files, data_change=True),
        mode="overwrite",
        schema=KEYS.schema,
        commit_properties=commit_properties(
            {"job": "event_keys", "operation": "rebuild", "covers": version},
            [(coverage_app(events), version)],
        ),
    )
    return IndexMaintenance("rebuilt", version, keys.num_rows, 0, len(files))


def refresh(lake: Lake, row_group_rows: int, file_rows: int) -> IndexMaintenance:
    """Bring the index up to bronze.events' current version: append the rows committed since
    it was last covered, or rebuild it when that cannot be known exactly (no coverage for this
    bronze table, log entries gone, or rows removed by an erasure)."""
    events = lake.table(EVENTS)
    if events is None:
        return IndexMaintenance()
    table = lake.table(KEYS)
    covered = table.transaction_version(coverage_app(events)) if table is not None else None
    version = events.version()
    if covered is None:
        return rebuild(lake, row_group_rows, file_rows)
    if covered >= version:
        return IndexMaintenance(covered_version=covered)
    new = rows_added_since(lake, covered, version)
    if new is None or new.removed_data:
        return rebuild(lake, row_group_rows, file_rows)
    keys = read_keys(lake, new.paths)
    appended = append_keys(
        lake, events, [Chunk(version, keys)], version, covered, row_group_rows, file_rows
    )
    if appended is None:
        return IndexMaintenance(covered_version=covered)
    return IndexMaintenance("appended", version, keys.num_rows)


def merge_small_files(
    lake: Lake,
    small_file_bytes: int,
    min_small_files: int,
    row_group_rows: int,
    file_rows: int,
) -> int:
    """Merge the index's small files (each writer append makes one) into sorted files of up
    to `file_rows` keys, dropping repeated keys; large files stay as they are. The commit
    moves keys without changing them (dataChange=false) and carries no coverage, so it may run
    beside writers' appends. Returns the number of files merged."""
    table = lake.table(KEYS)
    if table is None:
        return 0
    small = [f for f in live_key_paths(table) if f[1] < small_file_bytes]
    if len(small) < min_small_files:
        return 0
    picked: list[tuple[str, int, int]] = []
    rows = 0
    for path, size, records in sorted(small, key=lambda f: f[2]):
        if picked and rows + records > file_rows:
            break
        picked.append((path, size, records))
        rows += records
    if len(picked) < 2:
        return 0
    root = lake.uri(KEYS)
    parts = [
        read_data_file(
            DataFile(f"{root}/{unquote(path)}", 0, 0, {}),
            KEYS,
            KEY_COLUMNS,
            lake.storage_options,
        ).replace_schema_metadata(None)  # each file's own row-group ranges
        for path, _, _ in picked
    ]
    keys = sorted_keys(pa.concat_tables(parts))
    files = write_key_files(lake, keys, row_group_rows, file_rows)
    now = int(time.time() * 1000)
    removes = [
        RemoveAction(path=path, data_change=False, deletion_timestamp=now, size=size)
        for path, size, _ in picked
    ]
    table.create_write_transaction(
        [*_add_actions(files, data_change=False), *removes],
        mode="append",
        schema=KEYS.schema,
        commit_properties=commit_properties({"job": "maintain", "operation": "merge"}),
    )
    return len(picked)
