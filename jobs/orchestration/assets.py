"""The Airflow Asset of each lake table, and the alias each job emits them through.

An asset is named after the table (`tracelake.bronze.events`) with a logical URI
(`tracelake://bronze/events`), not the table's storage location: the location depends on
settings that DAG files must not load at parse time, and it differs between a laptop and a
cluster while the data dependency stays the same. Each event's `extra` carries the real table
URI and the Delta version written.

Jobs emit events only for the tables they actually changed: a job task lists its alias
(`tracelake.job.<name>`) as its outlet and attaches one event per table in the job result's
`versions_written` (see `emit_table_events`). A task that declared the table assets themselves
as outlets would emit all of them on every success, including runs that changed nothing.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import Asset, AssetAlias

ASSET_GROUP = "tracelake"


def table_asset(qualified_name: str) -> Asset:
    """`bronze.events` -> Asset(name="tracelake.bronze.events", uri="tracelake://bronze/events")."""
    tier, sep, name = qualified_name.partition(".")
    if not sep or not tier or not name:
        raise ValueError(f"table names are <tier>.<name>, got {qualified_name!r}")
    return Asset(
        name=f"tracelake.{tier}.{name}", uri=f"tracelake://{tier}/{name}", group=ASSET_GROUP
    )


def job_alias(job: str) -> AssetAlias:
    return AssetAlias(name=f"tracelake.job.{job}", group=ASSET_GROUP)


BRONZE_EVENTS = table_asset("bronze.events")


def emit_table_events(
    outlet_events: Any, alias: AssetAlias, result: dict[str, Any], table_uris: dict[str, str]
) -> list[str]:
    """Attach one asset event per table the job wrote. Returns the tables announced."""
    announced = []
    for table, version in sorted(result.get("versions_written", {}).items()):
        outlet_events[alias].add(
            table_asset(table),
            extra={
                "table": table,
                "version": version,
                "location": table_uris.get(table),
                "job": result.get("job"),
                "rows_out": result.get("rows_out"),
            },
        )
        announced.append(table)
    return announced


# -- exports (issue 15): one asset per dataset, its event's extra carries the manifest URI -------

# dataset -> the gold table it is exported from (kept here as plain names: DAG files must not
# import the export code, which loads pyarrow; a test checks it against jobs/export).
EXPORT_SOURCES: dict[str, str] = {
    "sft": "gold.examples",
    "dpo": "gold.preferences",
    "constitutional": "gold.constitutional_pairs",
}
EXPORT_ASSET_PREFIX = "tracelake.export."


def export_asset(dataset: str) -> Asset:
    """`sft` -> Asset(name="tracelake.export.sft", uri="tracelake://exports/sft"), the asset the
    train DAG is scheduled on."""
    return Asset(
        name=f"{EXPORT_ASSET_PREFIX}{dataset}",
        uri=f"tracelake://exports/{dataset}",
        group=ASSET_GROUP,
    )


def export_alias(dataset: str) -> AssetAlias:
    """The export task's outlet: an event is attached only when a new build was written."""
    return AssetAlias(name=f"tracelake.export_job.{dataset}", group=ASSET_GROUP)
