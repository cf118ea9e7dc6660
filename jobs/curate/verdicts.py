"""Curation's verdicts as readers need them, without Spark: the latest verdict of each example
in gold.dedup_index, and the examples the sft export leaves out."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tracelake.schemas.curation import KEPT

from ..lake import catalog
from ..lake.store import Lake

INDEX = catalog.GOLD_DEDUP_INDEX
INDEX_COLUMNS = (
    "example_id", "run_id", "split", "verdict", "cluster_id", "content_hash", "signature",
    "band_keys", "batch_version", "scheme",
)  # fmt: skip


def latest_verdicts(lake: Lake, version: int | None = None) -> pa.Table:
    """The index's latest row per example (the highest batch_version)."""
    index = lake.read(INDEX, columns=list(INDEX_COLUMNS), version=version)
    if index.num_rows == 0:
        return index
    order = pc.sort_indices(
        index, [("example_id", "ascending"), ("batch_version", "descending")]
    ).to_numpy()
    ids = index["example_id"].take(pa.array(order)).to_numpy(zero_copy_only=False)
    first = np.r_[True, ids[1:] != ids[:-1]] if len(ids) else np.zeros(0, dtype=bool)
    return index.take(pa.array(order[first]))


def dropped_example_ids(lake: Lake, version: int | None = None) -> set[str]:
    """Examples whose latest verdict is not `kept` (what the sft export leaves out)."""
    latest = latest_verdicts(lake, version)
    if latest.num_rows == 0:
        return set()
    mask = pc.not_equal(latest["verdict"], KEPT)
    return set(latest.filter(mask)["example_id"].to_pylist())


def summary(lake: Lake) -> dict[str, int]:
    """Examples per latest verdict (`rule: <verdict>`) and contaminated examples per evaluation
    task (`contaminated: <task id>`), for `tracelake report`."""
    if lake.version(INDEX) is None:
        return {}
    index = lake.read(INDEX, columns=["example_id", "verdict", "detail", "batch_version"])
    latest: dict[str, tuple[int, str, str | None]] = {}
    for row in index.to_pylist():
        held = latest.get(row["example_id"])
        if held is None or row["batch_version"] > held[0]:
            latest[row["example_id"]] = (row["batch_version"], row["verdict"], row["detail"])
    out: dict[str, int] = {}
    for _, verdict, detail in latest.values():
        out[f"rule: {verdict}"] = out.get(f"rule: {verdict}", 0) + 1
        if verdict == "contaminated" and detail and ": " in detail:
            for task in detail.split(": ", 1)[1].split(", "):
                out[f"contaminated: {task}"] = out.get(f"contaminated: {task}", 0) + 1
    return dict(sorted(out.items()))
