"""How analysts name lake tables in SQL: `bronze.events` (tier as namespace), or the alias
`bronze_events`; plus the column comments both engines show, taken from the schema models."""

from __future__ import annotations

import re
from dataclasses import dataclass

from pydantic import BaseModel

from ..lake import catalog
from ..lake.catalog import TableSpec


@dataclass(frozen=True)
class TableName:
    spec: TableSpec

    @property
    def qualified(self) -> str:
        return self.spec.qualified_name  # bronze.events

    @property
    def alias(self) -> str:
        return self.spec.view_name  # bronze_events


def lake_tables() -> list[TableName]:
    return [TableName(spec) for spec in catalog.all_tables()]


def known_names() -> set[str]:
    """Every name a query may use for a lake table, lower case."""
    names = set()
    for table in lake_tables():
        names.add(table.qualified.lower())
        names.add(table.alias.lower())
    return names


def _doc_models() -> dict[str, type[BaseModel]]:
    # The schemas/ model each table's columns were derived from (their Field descriptions).
    from tracelake.schemas.agent_event import AgentEvent
    from tracelake.schemas.records import JobRun, QuarantineRecord

    models: dict[str, type[BaseModel]] = {
        "bronze.events": AgentEvent,
        "bronze.quarantine": QuarantineRecord,
        "ops.job_runs": JobRun,
    }
    from tracelake.schemas.runs import RunRecord

    models["silver.runs"] = RunRecord
    return models


def column_comments(spec: TableSpec) -> dict[str, str]:
    """Column -> description from the table's schema model (empty when it has none)."""
    model = _doc_models().get(spec.qualified_name)
    if model is None:
        return {}
    comments = {}
    for name, info in model.model_fields.items():
        column = info.alias or name
        if info.description and column in spec.schema.names:
            comments[column] = " ".join(info.description.split())
    return comments


# A namespaced lake name outside quotes: `bronze.events`, `silver.runs`...
def namespaced_pattern() -> re.Pattern[str]:
    names = sorted((t.qualified for t in lake_tables()), key=len, reverse=True)
    body = "|".join(re.escape(n) for n in names)
    return re.compile(rf"(?<![\w.`\"])({body})(?![\w`\"])", re.IGNORECASE)
