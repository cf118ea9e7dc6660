"""The export manifest: what a trainer may read, and how it proves the shards are the ones exported.

An export writes `<root>/<dataset>/<build_id>/<split>/<split>-00000-of-000NN.parquet` shards and,
last, `<root>/<dataset>/<build_id>/manifest.json`. Shard paths in the manifest are relative to the
manifest's folder, so an export can be copied (local disk <-> S3) without rewriting it.

The reader here works on local paths and `s3://bucket/key` URIs (pyarrow's S3 filesystem; the
endpoint and credentials come from the usual AWS_* variables, AWS_ENDPOINT_URL included) and
re-hashes every shard before anything reads its rows.
"""

from __future__ import annotations

import hashlib
import os
import re
from datetime import datetime
from enum import StrEnum
from typing import Any

import pyarrow.fs as pafs
from pydantic import BaseModel, ConfigDict, Field, ValidationError

MANIFEST_NAME = "manifest.json"
MANIFEST_VERSION = 1
SHARD_NAME = re.compile(r"^(?P<split>[a-z_]+)-(?P<index>\d{5})-of-(?P<count>\d{5})\.(?P<ext>.+)$")
_HASH_CHUNK = 8 << 20


class ManifestError(ValueError):
    """The manifest is missing, unreadable, or does not match the shards it lists."""


class DatasetName(StrEnum):
    sft = "sft"  # gold.examples, all phases, with a `phase` column
    dpo = "dpo"  # gold.preferences: prompt / chosen / rejected
    constitutional = "constitutional"  # gold.constitutional_pairs + critique examples


class ShardFormat(StrEnum):
    parquet = "parquet"
    jsonl_zst = "jsonl.zst"
    mds = "mds"


class ColumnSpec(BaseModel):
    """One column of the exported schema (Arrow type as its string form)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    type: str
    nullable: bool = True


class ShardEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str = Field(
        description="Relative to the manifest's folder, e.g. train/train-00000-of-00002.parquet"
    )
    rows: int = Field(ge=0)
    bytes: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class SplitEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    rows: int = Field(ge=0)
    shards: list[ShardEntry]


class Manifest(BaseModel):
    """`manifest.json` of one exported dataset build."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    manifest_version: int = MANIFEST_VERSION
    dataset: DatasetName
    build_id: str = Field(min_length=1)
    created_at: datetime
    format: ShardFormat = ShardFormat.parquet
    source_table_versions: dict[str, int] = Field(
        description="Table name -> Delta version the export read, e.g. gold.examples -> 12."
    )
    contract_ids: list[str] = Field(default_factory=list)
    gate_result_ids: list[str] = Field(default_factory=list)
    code_version: str
    columns: list[ColumnSpec] = Field(alias="schema")
    splits: dict[str, SplitEntry]
    counts: dict[str, dict[str, int]] = Field(
        default_factory=dict, description="phase / level / pattern -> value -> rows"
    )
    shuffle_seed: int | None = None
    gates_forced: bool = Field(
        default=False,
        description="The export ran with --force: a failed quality gate would not have stopped it.",
    )

    def column_names(self) -> set[str]:
        return {c.name for c in self.columns}

    def total_rows(self) -> int:
        return sum(s.rows for s in self.splits.values())

    def to_json(self) -> str:
        return self.model_dump_json(by_alias=True, indent=2)


# --------------------------------------------------------------------------------------------
# Filesystems: local paths and s3:// URIs, the latter configured from the AWS_* environment.


def s3_filesystem_from_env() -> pafs.S3FileSystem:
    """pyarrow's S3 filesystem for AWS or an S3-compatible endpoint (AWS_ENDPOINT_URL)."""
    kwargs: dict[str, Any] = {"region": os.environ.get("AWS_REGION", "us-east-1")}
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        scheme, _, host = endpoint.partition("://")
        kwargs.update(endpoint_override=host or scheme, scheme=scheme if host else "https")
        kwargs["force_virtual_addressing"] = False
    if os.environ.get("AWS_ACCESS_KEY_ID"):
        kwargs.update(
            access_key=os.environ["AWS_ACCESS_KEY_ID"],
            secret_key=os.environ.get("AWS_SECRET_ACCESS_KEY", ""),
            session_token=os.environ.get("AWS_SESSION_TOKEN"),
        )
    return pafs.S3FileSystem(**kwargs)


def resolve(uri: str, filesystem: pafs.FileSystem | None = None) -> tuple[pafs.FileSystem, str]:
    """(filesystem, path inside it) for a local path or an s3:// URI."""
    if uri.startswith("s3://"):
        return filesystem or s3_filesystem_from_env(), uri.removeprefix("s3://")
    if "://" in uri and not uri.startswith("file://"):
        raise ManifestError(f"{uri}: unsupported scheme; use a local path or s3://bucket/key")
    return filesystem or pafs.LocalFileSystem(), os.path.abspath(uri.removeprefix("file://"))


def _join(base: str, rel: str) -> str:
    return f"{base.rstrip('/')}/{rel}"


def manifest_location(uri: str) -> str:
    """Accept either the manifest file or its folder."""
    return uri if uri.rstrip("/").endswith(MANIFEST_NAME) else _join(uri, MANIFEST_NAME)


def sha256_of(fs: pafs.FileSystem, path: str) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    # compression=None: pyarrow would otherwise decompress a `.zst` shard while hashing it.
    with fs.open_input_stream(path, compression=None) as stream:
        while chunk := stream.read(_HASH_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def read_manifest(uri: str, filesystem: pafs.FileSystem | None = None) -> Manifest:
    """Parse the manifest (no shard is read). `uri` is the manifest file or its folder."""
    location = manifest_location(uri)
    fs, path = resolve(location, filesystem)
    try:
        with fs.open_input_stream(path) as stream:
            text = stream.read().decode("utf-8")
    except FileNotFoundError:
        raise ManifestError(
            f"{location}: no manifest there; pass the manifest.json of a finished export"
        ) from None
    except OSError as exc:
        raise ManifestError(
            f"{location}: cannot read the manifest ({exc}); check the path and credentials"
        ) from None
    try:
        return Manifest.model_validate_json(text)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ManifestError(
            f"{location}: not a valid export manifest ({where}: {first['msg']}); re-run the export"
        ) from None


def shard_uri(manifest_uri: str, shard: ShardEntry) -> str:
    folder = manifest_location(manifest_uri).rsplit("/", 1)[0]
    return _join(folder, shard.path)


def verify_shards(
    uri: str, manifest: Manifest | None = None, filesystem: pafs.FileSystem | None = None
) -> list[str]:
    """Re-hash every shard; returns one message per problem (empty when all match)."""
    manifest = manifest or read_manifest(uri, filesystem)
    problems: list[str] = []
    for split, entry in manifest.splits.items():
        if sum(s.rows for s in entry.shards) != entry.rows:
            problems.append(f"split {split}: shard rows do not add up to {entry.rows}")
        for shard in entry.shards:
            location = shard_uri(uri, shard)
            fs, path = resolve(location, filesystem)
            try:
                digest, size = sha256_of(fs, path)
            except FileNotFoundError:
                problems.append(f"{location}: shard missing")
                continue
            if size != shard.bytes or digest != shard.sha256:
                problems.append(
                    f"{location}: sha256 {digest[:12]}... ({size} bytes) differs from the "
                    f"manifest's {shard.sha256[:12]}... ({shard.bytes} bytes)"
                )
    return problems


def open_verified(uri: str, filesystem: pafs.FileSystem | None = None) -> Manifest:
    """The manifest, after every shard it lists was re-hashed; raises on the first mismatch."""
    manifest = read_manifest(uri, filesystem)
    problems = verify_shards(uri, manifest, filesystem)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ManifestError(f"{problems[0]}{more}; re-export the dataset or fix the copy")
    return manifest
