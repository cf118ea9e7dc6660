"""Resolve ingest inputs (files, directories, globs, s3:// prefixes) and read them as bytes."""

from __future__ import annotations

import glob
import gzip
import mmap
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pyarrow.fs as pafs
import zstandard

from ..errors import InputNotFoundError
from ..lake.store import translate_storage_error

COMPRESSED_SUFFIXES = (".gz", ".zst")


@dataclass(frozen=True)
class SourceRef:
    """One input file: where it is and how big it is (bytes on storage)."""

    uri: str
    size: int


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


def resolve(inputs: list[str], storage_options: dict[str, str] | None = None) -> list[SourceRef]:
    """Expand inputs into files, sorted and de-duplicated. Raises InputNotFoundError naming the
    first input that matches nothing."""
    refs: dict[str, SourceRef] = {}
    for item in inputs:
        found = (
            _resolve_s3(item, storage_options or {})
            if item.startswith("s3://")
            else _resolve_local(item)
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


def _resolve_local(item: str) -> list[SourceRef]:
    path = Path(item).expanduser()
    if path.is_file():
        return [SourceRef(str(path.resolve()), path.stat().st_size)]
    if path.is_dir():
        files = [
            p
            for p in sorted(path.rglob("*"))
            if p.is_file() and not _is_hidden(p.relative_to(path))
        ]
        return [SourceRef(str(p.resolve()), p.stat().st_size) for p in files]
    if glob.has_magic(item):
        matches = [Path(m) for m in sorted(glob.glob(os.path.expanduser(item), recursive=True))]
        out: list[SourceRef] = []
        for m in matches:
            out.extend(_resolve_local(str(m)))
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


def read_bytes(uri: str, storage_options: dict[str, str] | None = None) -> bytes:
    """The file's content, decompressed by suffix (.gz, .zst)."""
    if uri.startswith("s3://"):
        fs = s3_filesystem(storage_options or {})
        try:
            with fs.open_input_stream(_s3_key(uri)) as stream:
                raw = stream.read()
        except OSError as exc:
            raise translate_storage_error(exc, uri) or exc from None
    else:
        raw = Path(uri).read_bytes()
    return decompress(uri, raw)


def decompress(uri: str, raw: bytes) -> bytes:
    if uri.endswith(".gz"):
        return gzip.decompress(raw)
    if uri.endswith(".zst"):
        with zstandard.ZstdDecompressor().stream_reader(raw) as reader:
            return reader.read()
    return raw


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
    found = [np.flatnonzero(mask) + start for start, mask in _newline_masks(raw)]
    return np.concatenate(found) if found else np.empty(0, np.int64)


def count_newlines(raw: np.ndarray) -> int:
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
