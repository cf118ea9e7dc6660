"""Records of curation (docs/curation.md): the persistent deduplication index and the clusters it
forms. Both live in the gold tier next to the examples they judge.

gold.dedup_index holds one row per curated version of an example: its verdict, the exact content
hash and, for kept examples, the MinHash signature and its LSH band keys, so a later batch is
checked against every kept example without recomputing anything old. Each row names the scheme
its hash and signature were made under; only rows of the current scheme are comparable. An
example re-assembled with new content gets a new row; the latest row of an example (highest
`batch_version`) is its verdict.

gold.dedup_clusters is append-only: one row per cluster a batch touched, with the members that
batch added. A cluster's membership is the union of its rows; its representative never changes.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

# Verdicts; every one but `kept` is also a reason code of gold.rejected (stage `curate`).
KEPT = "kept"
DUPLICATE_EXACT = "duplicate_exact"
DUPLICATE_NEAR = "duplicate_near"
CONTAMINATED = "contaminated"
CURATION_ERROR = "curation_error"
VERDICTS = (KEPT, DUPLICATE_EXACT, DUPLICATE_NEAR, CONTAMINATED, CURATION_ERROR)
DROP_CODES = VERDICTS[1:]
STAGE = "curate"  # gold.rejected's stage of the rows curation writes


class DedupIndexRow(BaseModel):
    """One row of gold.dedup_index: one curated version of one example."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    example_id: str = Field(description="The example (gold.examples.example_id).")
    run_id: str = Field(description="Its run.")
    split: str = Field(description="The example's split (a kept example: its cluster's split).")
    verdict: str = Field(description="kept, duplicate_exact, duplicate_near, contaminated, ...")
    cluster_id: str | None = Field(
        default=None, description="Kept: its own cluster; a duplicate: the cluster it joined."
    )
    content_hash: str = Field(description="sha256 of the normalised trajectory text.")
    signature: list[int] | None = Field(
        default=None, description="MinHash signature (kept examples with text only)."
    )
    band_keys: list[int] | None = Field(
        default=None, description="LSH bucket key per band (kept examples with text only)."
    )
    detail: str | None = Field(default=None, description="Why: the rule's evidence, in words.")
    flags: list[str] = Field(description="Bad-input findings: truncated, control_chars, ...")
    batch_version: int = Field(description="gold.examples version this verdict was made at.")
    scheme: str | None = Field(
        default=None,
        description="How content_hash, signature and band_keys were made (exact-hash version, "
        "MinHash version, shingle size, band geometry, seed). Rows of another scheme (null: "
        "made before schemes were recorded) cannot be compared with new ones: a curation run "
        "that finds one re-curates every example.",
    )


class DedupClusterRow(BaseModel):
    """One row of gold.dedup_clusters: what one batch added to one duplicate cluster."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cluster_row_id: str = Field(description="Stable id: hash of cluster id and batch version.")
    cluster_id: str = Field(description="The representative's example_id.")
    representative: str = Field(description="The kept example (its example_id).")
    representative_run_id: str
    split: str = Field(description="The representative's split: the cluster's split.")
    members: list[str] = Field(description="Dropped example_ids this batch added.")
    rules: list[str] = Field(description="The rule that dropped each member (same order).")
    batch_version: int = Field(description="gold.examples version of the batch.")


def _schemas():  # imported late: schemas.arrow derives types from the models above
    import pyarrow as pa

    from .arrow import model_fields_to_arrow

    return tuple(pa.schema(model_fields_to_arrow(m)) for m in (DedupIndexRow, DedupClusterRow))


DEDUP_INDEX_SCHEMA, DEDUP_CLUSTERS_SCHEMA = _schemas()
