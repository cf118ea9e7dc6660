"""Resolve ingest inputs (files, directories, globs, s3:// prefixes) and read them as bytes."""

from __future__ import annotations

import glob
import io
import mmap
import os
import sys
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np
import pyarrow.fs as pafs
import zstandard

from ..errors import InputNotFoundError
from ..lake.store import translate_storage_error
from . import native

COMPRESSED_SUFFIXES = (".gz", ".zst")


@dataclass(frozen=True)
class SourceRef:
    """One input file: where it is and how big it is (bytes on storage)."""

    uri: str
    size: int
    # A symlink inside an input directory that leads outside it: not read, only reported.
    outside_root: bool = False
    target: str = ""


def s3_filesystem(storage_options: dict[str, str]) -> pafs.S3FileSystem:
    endpoint = storage_options.get("AWS_ENDPOINT_URL")
    kwargs: dict[str, object] = {
        "region": storage_options.get("AWS_REGION", "us-east-1"),
        "connect_timeout": 5,
        "request_timeout": 30,
        "retry_strategy": pafs.AwsStandardS3RetryStrategy(max_attempts=2),
    }
    if storage_options.get("AWS_ACCESS_KEY_ID"):
        kwargs["access_key"] = storage_options["AWS_ACCESS_KEY_ID"]
        kwargs["secret_key"] = storage_options.get("AWS_SECRET_ACCESS_KEY")
        if storage_options.get("AWS_SESSION_TOKEN"):
            kwargs["session_token"] = storage_options["AWS_SESSION_TOKEN"]
    if endpoint:
        parsed = urlparse(endpoint)
        kwargs["endpoint_override"] = parsed.netloc or parsed.path
        kwargs["scheme"] = parsed.scheme or "https"
        kwargs["force_virtual_addressing"] = False
    return pafs.S3FileSystem(**kwargs)


def _s3_key(uri: str) -> str:
    return uri.removeprefix("s3://").rstrip("/")


def resolve(
    inputs: list[str],
    storage_options: dict[str, str] | None = None,
    follow_symlinks: bool = False,
) -> list[SourceRef]:
    """Expand inputs into files, sorted and de-duplicated. Raises InputNotFoundError naming the
    first input that matches nothing. Symlinks inside a directory that lead outside it are
    returned marked `outside_root` unless `follow_symlinks`."""
    refs: dict[str, SourceRef] = {}
    for item in inputs:
        found = (
            _resolve_s3(item, storage_options or {})
            if item.startswith("s3://")
            else _resolve_local(item, follow_symlinks)
        )
        if not found:
            raise InputNotFoundError(
                f"input {item!r} does not exist or holds no files; "
                "give a file, a directory, a glob or an s3:// prefix"
            )
        for ref in found:
            refs.setdefault(ref.uri, ref)
    return [refs[k] for k in sorted(refs)]


def _is_hidden(path: Path) -> bool:
    return any(part.startswith(".") for part in path.parts if part not in (".", ".."))


def _resolve_local(item: str, follow_symlinks: bool = False) -> list[SourceRef]:
    path = Path(item).expanduser()
    if path.is_file():  # named by the caller: read wherever it leads
        return [SourceRef(str(path.resolve()), path.stat().st_size)]
    if path.is_dir():
        root = path.resolve()
        out = []
        for p in sorted(path.rglob("*")):
            if not p.is_file() or _is_hidden(p.relative_to(path)):
                continue
            real = p.resolve()
            if not follow_symlinks and not real.is_relative_to(root):
                # Named by nobody: a link planted in a trace folder must not pull in
                # /etc/passwd or a credentials file.
                out.append(SourceRef(str(p.absolute()), 0, outside_root=True, target=str(real)))
            else:
                out.append(SourceRef(str(real), real.stat().st_size))
        return out
    if glob.has_magic(item):
        matches = [Path(m) for m in sorted(glob.glob(os.path.expanduser(item), recursive=True))]
        out = []
        for m in matches:
            out.extend(_resolve_local(str(m), follow_symlinks))
        return out
    return []


def _resolve_s3(uri: str, storage_options: dict[str, str]) -> list[SourceRef]:
    fs = s3_filesystem(storage_options)
    key = _s3_key(uri)
    try:
        info = fs.get_file_info(key)
        if info.type == pafs.FileType.File:
            return [SourceRef(f"s3://{key}", info.size or 0)]
        selector = pafs.FileSelector(key, recursive=True, allow_not_found=True)
        infos = fs.get_file_info(selector)
    except OSError as exc:
        raise translate_storage_error(exc, uri) or exc from None
    return [
        SourceRef(f"s3://{i.path}", i.size or 0)
        for i in sorted(infos, key=lambda i: i.path)
        if i.type == pafs.FileType.File and not i.base_name.startswith(".")
    ]


class StreamError(Exception):
    """A compressed stream that is corrupt or ends early: a property of the file."""


class FileTooLargeError(Exception):
    """The file decompresses to more than the cap it is read under."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"more than {limit} bytes once decompressed")
        self.limit = limit


# Compressed bytes fed to a decoder at a time. zstd (and gzip) can expand a few bytes into
# megabytes; a small input step bounds what one call can produce (zstd: ~32 MiB for 1 KiB).
_FEED_BYTES = 1024
# Decompressed bytes produced per step for gzip, whose decoder takes an output bound.
_STEP_BYTES = 1 << 20


def _raw_stream(uri: str, storage_options: dict[str, str] | None) -> Any:
    if uri.startswith("s3://"):
        fs = s3_filesystem(storage_options or {})
        try:
            return fs.open_input_stream(_s3_key(uri))
        except OSError as exc:
            raise translate_storage_error(exc, uri) or exc from None
    return open(uri, "rb")


def _read(stream: Any, uri: str, size: int) -> bytes:
    try:
        return stream.read(size)
    except OSError as exc:
        raise translate_storage_error(exc, uri) or exc from None


def _gzip_pieces(stream: Any, uri: str) -> Iterator[bytes]:
    decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
    pending, started = b"", False
    while True:
        if not pending:
            pending = _read(stream, uri, 64 * 1024)
            if not pending:
                break
            started = True
        if decoder.eof:  # another gzip member follows (concatenated .gz files are valid)
            decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            out = decoder.decompress(pending, _STEP_BYTES)
        except zlib.error as exc:
            raise StreamError(f"corrupt gzip stream: {exc}") from None
        pending = decoder.unused_data if decoder.eof else decoder.unconsumed_tail
        if out:
            yield out
    if not started or not decoder.eof:
        raise StreamError("gzip stream is truncated (no end-of-stream marker)")


def _zstd_pieces(stream: Any, uri: str) -> Iterator[bytes]:
    decoder = zstandard.ZstdDecompressor().decompressobj()
    started = False
    while True:
        chunk = _read(stream, uri, _FEED_BYTES)
        if not chunk:
            break
        started = True
        while chunk:
            if decoder.eof:  # the next frame of a multi-frame file
                decoder = zstandard.ZstdDecompressor().decompressobj()
            try:
                out = decoder.decompress(chunk)
            except zstandard.ZstdError as exc:
                raise StreamError(f"corrupt zstd stream: {exc}") from None
            chunk = decoder.unused_data if decoder.eof else b""
            if out:
                yield out
    if not started or not decoder.eof:
        raise StreamError("zstd stream is truncated (its last frame is incomplete)")


def decompressed_pieces(uri: str, storage_options: dict[str, str] | None = None) -> Iterator[bytes]:
    """The file's content in pieces, decompressed by suffix as a stream (never whole).

    Raises StreamError for a corrupt or truncated stream, after yielding what came before."""
    with _raw_stream(uri, storage_options) as stream:
        if uri.endswith(".gz"):
            yield from _gzip_pieces(stream, uri)
        elif uri.endswith(".zst"):
            yield from _zstd_pieces(stream, uri)
        else:
            while piece := _read(stream, uri, _STEP_BYTES):
                yield piece


def read_head(uri: str, size: int, storage_options: dict[str, str] | None = None) -> bytes:
    """The first `size` decompressed bytes (fewer for a short file), reading no further.
    A stream that is corrupt within them raises StreamError."""
    head = bytearray()
    pieces = decompressed_pieces(uri, storage_options)
    try:
        for piece in pieces:
            head += piece
            if len(head) >= size:
                break
    except StreamError:
        if not head:
            raise
    finally:
        pieces.close()
    return bytes(head[:size])


def read_capped(uri: str, limit: int, storage_options: dict[str, str] | None = None) -> bytes:
    """The whole decompressed content; FileTooLargeError past `limit` bytes (memory stays
    about `limit`), StreamError for a corrupt or truncated stream."""
    data = bytearray()
    pieces = decompressed_pieces(uri, storage_options)
    try:
        for piece in pieces:
            if len(data) + len(piece) > limit:
                raise FileTooLargeError(limit)
            data += piece
    finally:
        pieces.close()
    return bytes(data)


def read_bytes(uri: str, storage_options: dict[str, str] | None = None) -> bytes:
    """The file's content, decompressed by suffix (.gz, .zst); no size cap."""
    return read_capped(uri, sys.maxsize, storage_options)


def decompress(uri: str, raw: bytes) -> bytes:
    """Decompress in-memory bytes by the uri's suffix, refusing a truncated stream."""
    if uri.endswith(".gz"):
        pieces = _gzip_pieces(io.BytesIO(raw), uri)
    elif uri.endswith(".zst"):
        pieces = _zstd_pieces(io.BytesIO(raw), uri)
    else:
        return raw
    return b"".join(pieces)


def logical_path(uri: str) -> str:
    """The path with compression suffixes removed (`s3://b/x/a.jsonl.gz` -> `s3://b/x/a.jsonl`)."""
    for suffix in COMPRESSED_SUFFIXES:
        uri = uri.removesuffix(suffix)
    return uri


def is_compressed(uri: str) -> bool:
    return uri.endswith(COMPRESSED_SUFFIXES)


def read_range(path: str, start: int, end: int) -> bytes:
    """Bytes [start, end) of a local file."""
    with open(path, "rb") as f:
        f.seek(start)
        return f.read(end - start)


_SCAN_BYTES = 1 << 20
_scratch = threading.local()


def _newline_masks(raw: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
    """(offset, is-newline mask) for 1 MiB slices of `raw`, in one reused per-thread buffer: a
    fresh comparison array per document costs more in page faults than the scan itself."""
    buffer = getattr(_scratch, "buffer", None)
    if buffer is None:
        buffer = _scratch.buffer = np.empty(_SCAN_BYTES, dtype=bool)
    for start in range(0, len(raw), _SCAN_BYTES):
        piece = raw[start : start + _SCAN_BYTES]
        yield start, np.equal(piece, 10, out=buffer[: len(piece)])


def newline_offsets(raw: np.ndarray) -> np.ndarray:
    """Offsets of every newline byte in `raw` (uint8)."""
    scanner = native.load("_scan")
    if scanner is not None:  # memchr in C: several times numpy's compare-then-nonzero
        return np.frombuffer(scanner.newlines(raw), np.int64)
    found = [np.flatnonzero(mask) + start for start, mask in _newline_masks(raw)]
    return np.concatenate(found) if found else np.empty(0, np.int64)


def count_newlines(raw: np.ndarray) -> int:
    scanner = native.load("_scan")
    if scanner is not None:
        return int(scanner.count_newlines(raw))
    return sum(int(np.count_nonzero(mask)) for _, mask in _newline_masks(raw))


def line_chunks(path: str, chunk_bytes: int) -> Iterator[tuple[int, int, int]]:
    """Split a local file at newlines into (start, end, first_line) ranges of about chunk_bytes,
    without copying it (memory-mapped)."""
    size = os.path.getsize(path)
    if size == 0:
        return
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
        view = np.frombuffer(data, dtype=np.uint8)
        try:
            start, line = 0, 1
            while start < size:
                end = data.find(b"\n", min(start + chunk_bytes, size) - 1)
                end = size if end == -1 else end + 1
                yield start, end, line
                line += count_newlines(view[start:end])
                start = end
        finally:
            del view  # the mmap cannot close while a buffer export is alive
