"""Builds the canonical event dicts of one run: ids, seq, timestamps, token and cost totals.

Events are plain dicts with exactly the AgentEvent fields in model order (no pydantic per
event: the simulator must write tens of thousands of events a second on one core).
"""

from __future__ import annotations

from typing import Any

import orjson

from tracelake.schemas import SCHEMA_VERSION

from .clock import IsoFormatter

SOURCE = "tracelake-simulator"
MODE = "SIMULATION"
# Prices of the simulated model (USD per token), in line with a mid-size hosted model.
PRICE_IN = 3e-6
PRICE_OUT = 15e-6

Component = tuple[str, str, str]  # (name, kind, version)


def json_text(value: Any) -> str:
    return orjson.dumps(value).decode()


class RunRecorder:
    """Appends events to one run. `now` is the run's clock in microseconds; it only moves
    forward, so timestamps are non-decreasing in seq order."""

    __slots__ = ("cost", "events", "fmt", "now", "run_id", "tokens_in", "tokens_out")

    def __init__(self, run_id: str, start_us: int, fmt: IsoFormatter) -> None:
        self.run_id = run_id
        self.events: list[dict[str, Any]] = []
        self.now = start_us
        self.fmt = fmt
        self.tokens_in = 0
        self.tokens_out = 0
        self.cost = 0.0

    def wait(self, ms: float) -> None:
        self.now += int(ms * 1000)

    def at(self, us: int) -> None:
        if us > self.now:
            self.now = us

    def emit(
        self,
        event_type: str,
        component: Component | None,
        action: str,
        *,
        parent: str | None = None,
        input: Any = None,
        output: Any = None,
        state_change: Any = None,
        reasoning: str | None = None,
        status: str | None = None,
        error: str | None = None,
        error_type: str | None = None,
        tokens: tuple[int, int] | None = None,
        latency_ms: float | None = None,
        cost_usd: float | None = None,
        attributes: dict[str, str] | None = None,
        run_level: tuple[str, str, str] | None = None,  # (goal, scenario, level)
    ) -> str:
        seq = len(self.events)
        event_id = f"{self.run_id}-{seq:04d}"
        tokens_in = tokens_out = None
        if tokens is not None:
            tokens_in, tokens_out = tokens
            self.tokens_in += tokens_in
            self.tokens_out += tokens_out
            if cost_usd is None:
                cost_usd = round(tokens_in * PRICE_IN + tokens_out * PRICE_OUT, 6)
        if cost_usd is not None:
            self.cost += cost_usd
        goal = scenario = level = None
        if run_level is not None:
            goal, scenario, level = run_level
        name = kind = version = None
        if component is not None:
            name, kind, version = component
        self.events.append(
            {
                "event_id": event_id,
                "run_id": self.run_id,
                "seq": seq,
                "parent_event_id": parent,
                "ts": self.fmt(self.now),
                "source": SOURCE,
                "dialect": "canonical",
                "source_uri": None,
                "source_position": None,
                "event_type": event_type,
                "component_name": name,
                "component_kind": kind,
                "component_version": version,
                "action": action,
                "input": None if input is None else json_text(input),
                "output": None if output is None else json_text(output),
                "state_change": None if state_change is None else json_text(state_change),
                "reasoning": reasoning,
                "status": status,
                "error": error,
                "error_type": error_type,
                "tokens_in": tokens_in,
                "tokens_out": tokens_out,
                "latency_ms": latency_ms,
                "cost_usd": cost_usd,
                "mode": MODE,
                "goal": goal,
                "scenario": scenario,
                "scenario_level": level,
                "attributes": attributes or {},
                "schema_version": SCHEMA_VERSION,
            }
        )
        return event_id
