"""Our keys in a Delta commit's `commitInfo`, safe for every Delta reader.

delta-rs writes custom commit metadata as top-level `commitInfo` fields. Delta on Spark parses
`commitInfo` with a fixed schema, so one of our keys that names a Delta field with another type
(e.g. `job`, a struct there) makes delta-spark fail to read the whole log. Keys that collide
with Delta's own fields are therefore written as `tracelake.<key>`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

# The fields of Delta's CommitInfo action (PROTOCOL.md, delta-spark actions.scala).
DELTA_COMMIT_INFO_FIELDS = frozenset(
    {
        "version",
        "timestamp",
        "userId",
        "userName",
        "operation",
        "operationParameters",
        "job",
        "notebook",
        "clusterId",
        "readVersion",
        "isolationLevel",
        "isBlindAppend",
        "operationMetrics",
        "userMetadata",
        "tags",
        "engineInfo",
        "txnId",
        "inCommitTimestamp",
        "clientVersion",
    }
)


def custom_metadata(metadata: Mapping[str, Any] | None) -> dict[str, str]:
    """Commit metadata as delta-rs custom_metadata: string values, no Delta field names."""
    out = {}
    for key, value in (metadata or {}).items():
        name = f"tracelake.{key}" if key in DELTA_COMMIT_INFO_FIELDS else key
        out[name] = value if isinstance(value, str) else json.dumps(value, default=str)
    return out


def our_keys(info: Mapping[str, Any]) -> dict[str, Any]:
    """A commit's `commitInfo` with our keys at the top level: native Delta writes carry them in
    `userMetadata` (JSON), the bridge and delta-rs as top-level fields. Delta's own fields win."""
    try:
        user = json.loads(info.get("userMetadata") or "{}")
    except (TypeError, ValueError):
        user = None
    if not isinstance(user, dict):
        return dict(info)
    return {**{k: v for k, v in user.items() if k not in info}, **info}
