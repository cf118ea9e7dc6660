"""Record shapes: the one source of truth (pydantic models -> Arrow schemas -> JSON Schema)."""

from .agent_event import (
    EVENT_FIELDS,
    MAX_EVENT_BYTES,
    REQUIRED_FIELDS,
    RUN_LEVEL_EVENTS,
    SCHEMA_VERSION,
    AgentEvent,
    ComponentKind,
    EventType,
    Mode,
    ScenarioLevel,
    StepStatus,
    is_known_event_type,
)
from .records import JobRun, QuarantineRecord

__all__ = [
    "EVENT_FIELDS",
    "MAX_EVENT_BYTES",
    "REQUIRED_FIELDS",
    "RUN_LEVEL_EVENTS",
    "SCHEMA_VERSION",
    "AgentEvent",
    "ComponentKind",
    "EventType",
    "JobRun",
    "Mode",
    "QuarantineRecord",
    "ScenarioLevel",
    "StepStatus",
    "is_known_event_type",
]
