"""The simulated LLM-OS's state across runs: component versions, error counts that drive
evolution, components created on demand, and the memory of past runs.

Runs are generated in order against one World, so run i depends on runs 0..i-1 only: a longer
simulation with the same seed starts with exactly the runs of a shorter one.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from .catalog import COMPONENTS, ComponentSpec, NovelNeed, VersionSpec, _v

MEMORY_PER_SCENARIO = 5


@dataclass
class ComponentState:
    spec: ComponentSpec
    index: int = 0  # into spec.versions
    errors_on_version: int = 0
    calls_on_version: int = 0
    error_kinds: dict[str, int] = field(default_factory=dict)
    created_in_run: str | None = None  # for components created on demand

    @property
    def current(self) -> VersionSpec:
        return self.spec.versions[self.index]

    @property
    def due_for_evolution(self) -> bool:
        limits = self.spec.evolve_after
        return self.index < len(limits) and self.errors_on_version >= limits[self.index]

    def record(self, error_type: str | None) -> None:
        self.calls_on_version += 1
        if error_type:
            self.errors_on_version += 1
            self.error_kinds[error_type] = self.error_kinds.get(error_type, 0) + 1

    def evolve(self) -> tuple[VersionSpec, VersionSpec, str]:
        """Move to the next version; returns (old, new, why) for the component_evolved event."""
        old = self.current
        kinds = ", ".join(f"{k}: {n}" for k, n in sorted(self.error_kinds.items()))
        why = (
            f"{self.errors_on_version} errors in {self.calls_on_version} calls on "
            f"{self.spec.name} {old.version} ({kinds})"
        )
        self.index += 1
        self.errors_on_version = self.calls_on_version = 0
        self.error_kinds = {}
        return old, self.current, why


@dataclass(frozen=True)
class Experience:
    run_id: str
    outcome: str  # success | success_with_recovery | failure
    learning: str


class World:
    def __init__(self) -> None:
        self.components: dict[str, ComponentState] = {
            name: ComponentState(spec) for name, spec in COMPONENTS.items()
        }
        self.memory: dict[str, deque[Experience]] = {}

    def component(self, name: str) -> ComponentState:
        return self.components[name]

    def create(self, need: NovelNeed, run_id: str) -> ComponentState:
        """Register a component written on demand; it starts at 0.1.0 with teething problems
        and is rewritten as 0.2.0 once they pile up."""
        err_type, rate = need.error
        slug = need.component.removesuffix("Tool").removesuffix("Agent").lower()
        tokens = (2800, 900) if need.kind == "agent" else (0, 0)
        latency = (6500.0, 0.45) if need.kind == "agent" else (1800.0, 0.5)
        spec = ComponentSpec(
            need.component,
            need.kind,
            need.purpose,
            (
                _v("0.1.0", f"{need.kind}_{slug}_v0_1", [(err_type, rate)], latency, tokens),
                _v(
                    "0.2.0",
                    f"{need.kind}_{slug}_v0_2",
                    [(err_type, rate / 4)],
                    latency,
                    tokens,
                    note=f"handles the {err_type} cases seen since 0.1.0",
                ),
            ),
            evolve_after=(8,),
        )
        state = ComponentState(spec, created_in_run=run_id)
        self.components[need.component] = state
        return state

    def recall(self, scenario: str) -> list[Experience]:
        return list(self.memory.get(scenario, ()))

    def remember(self, scenario: str, experience: Experience) -> None:
        self.memory.setdefault(scenario, deque(maxlen=MEMORY_PER_SCENARIO)).append(experience)
