"""Arrow schemas derived from the pydantic models, plus the columns each table adds."""

from __future__ import annotations

import types
import typing
from datetime import datetime
from enum import Enum

import pyarrow as pa
from pydantic import BaseModel

from .agent_event import AgentEvent
from .records import JobRun, LandingFileRecord, QuarantineRecord

TIMESTAMP = pa.timestamp("us", tz="UTC")


def _arrow_type(annotation: typing.Any) -> pa.DataType:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        (inner,) = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _arrow_type(inner)
    if origin is typing.Annotated:
        return _arrow_type(typing.get_args(annotation)[0])
    if origin is typing.Literal and all(isinstance(a, str) for a in typing.get_args(annotation)):
        return pa.string()
    if origin is dict:
        key, value = typing.get_args(annotation)
        return pa.map_(_arrow_type(key), _arrow_type(value))
    if origin is list:
        (item,) = typing.get_args(annotation)
        return pa.list_(pa.field("element", _arrow_type(item), nullable=_is_optional(item)))
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return pa.struct(model_fields_to_arrow(annotation))
    if isinstance(annotation, type):
        if issubclass(annotation, Enum) or annotation is str:
            return pa.string()
        if annotation is bool:
            return pa.bool_()
        if annotation is int:
            return pa.int64()
        if annotation is float:
            return pa.float64()
        if annotation is datetime:
            return TIMESTAMP
    raise TypeError(f"no Arrow type for annotation {annotation!r}")


def _is_optional(annotation: typing.Any) -> bool:
    if typing.get_origin(annotation) is typing.Annotated:
        return _is_optional(typing.get_args(annotation)[0])
    return typing.get_origin(annotation) in (typing.Union, types.UnionType) and type(
        None
    ) in typing.get_args(annotation)


def model_fields_to_arrow(model: type[BaseModel]) -> list[pa.Field]:
    fields = []
    for name, info in model.model_fields.items():
        fields.append(pa.field(name, _arrow_type(info.annotation), nullable=not info.is_required()))
    return fields


# bronze.events = the event plus what the lake records about storing it.
EVENT_SCHEMA = pa.schema(model_fields_to_arrow(AgentEvent))
BRONZE_EVENTS_SCHEMA = pa.schema(
    [
        *EVENT_SCHEMA,
        pa.field("content_hash", pa.string(), nullable=False),
        pa.field("batch_id", pa.string(), nullable=False),
        pa.field("ingested_at", TIMESTAMP, nullable=False),
        pa.field("event_date", pa.date32(), nullable=False),
    ]
)
QUARANTINE_SCHEMA = pa.schema(
    [
        *model_fields_to_arrow(QuarantineRecord),
        pa.field("quarantine_date", pa.date32(), nullable=False),
    ]
)
# bronze.event_keys: one row per stored event, the persistent index deduplication reads
# (jobs/ingest/event_keys.py). `id_hash` is xxh3-64 of the event id, the files' sort key.
EVENT_KEYS_SCHEMA = pa.schema(
    [
        pa.field("id_hash", pa.int64(), nullable=False),
        pa.field("event_id", pa.string(), nullable=False),
        pa.field("content_hash", pa.string(), nullable=False),
    ]
)
JOB_RUNS_SCHEMA = pa.schema(model_fields_to_arrow(JobRun))
LANDING_FILES_SCHEMA = pa.schema(model_fields_to_arrow(LandingFileRecord))
