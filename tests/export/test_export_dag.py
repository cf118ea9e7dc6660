"""The tracelake_export DAG's task: a new build emits `tracelake.export.<dataset>` with the
manifest URI, which the train DAG's `manifest_from_events` reads; nothing new emits nothing."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from tracelake.jobs.context import JobContext
from tracelake.jobs.export.job import SOURCES
from tracelake.jobs.train_runs import EXPORT_ASSET_PREFIX, manifest_from_events
from tracelake.schemas.manifest import open_verified


@dataclass
class _Event:
    extra: dict[str, Any]


@dataclass
class _Accessor:
    added: list[tuple[Any, dict[str, Any]]] = field(default_factory=list)

    def add(self, asset: Any, extra: dict[str, Any]) -> None:
        self.added.append((asset, extra))


class _OutletEvents(dict):
    def __missing__(self, key: Any) -> _Accessor:
        self[key] = _Accessor()
        return self[key]


# The orchestration modules import airflow: only inside tests, never at collection, so that
# tests/airflow configures airflow's home before anything imports it.


def test_export_sources_match_the_exporter() -> None:
    from tracelake.jobs.orchestration.assets import EXPORT_SOURCES

    assert {k: v[0][0] for k, v in SOURCES.items()} == EXPORT_SOURCES


def test_export_task_emits_the_manifest_for_the_train_dag(
    gold_ctx: JobContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tracelake.jobs.orchestration import tasks
    from tracelake.jobs.orchestration.assets import export_alias

    monkeypatch.setenv("TRACELAKE_LAKE_ROOT", gold_ctx.settings.lake_root)
    monkeypatch.setenv("TRACELAKE_EXPORT_ROOT", gold_ctx.settings.export_root)
    monkeypatch.setenv("TRACELAKE_EXPORT__SHARD_BYTES", "262144")
    events = _OutletEvents()
    result = tasks.export_dataset("sft", outlet_events=events)
    ((asset, extra),) = events[export_alias("sft")].added
    assert asset.name == f"{EXPORT_ASSET_PREFIX}sft" == result["announced"][0]
    assert asset.uri == "tracelake://exports/sft"
    manifest = manifest_from_events({asset: [_Event(extra)]}, "sft")
    assert manifest == result["manifest"]
    assert open_verified(manifest).build_id == extra["build_id"]
    # Nothing changed: the same build, no event (the train DAG is not triggered again).
    again = _OutletEvents()
    assert tasks.export_dataset("sft", outlet_events=again)["status"] == "unchanged"
    assert again[export_alias("sft")].added == []
