"""The two prompting modes: the goal only, or the framework in the system prompt (the component
documents and LLM-OS instructions), to test the claim that a fine-tuned model needs neither."""

from __future__ import annotations

import json
from typing import Any

from ...trainer.episodes import DEFAULT_SYSTEM
from ..environment.tasks import Task, resolve_components
from . import constitution

PROMPT_MODES = ("goal", "framework")

LLM_OS = """You are the SystemAgent of an LLM operating system. Work in this order:
1. Plan: decompose the goal into steps, each served by one component.
2. Memory: call recall_memory first when past runs of similar tasks may have learned something.
3. Act: call one component per step with arguments that match its parameters. Refer to
   workspace artifacts by the ids earlier results returned (doc-1, summary-1, ...).
4. Recover: when a call fails, read the error: retry a transient failure, switch to a fallback
   or another version (evolve_component), never repeat a call that succeeded.
5. Evolve: when no component has a capability the goal needs, write one with create_component
   (a new name, an `inputs` array parameter, its capabilities).
6. Finish: write the deliverable where the goal says, then answer in one sentence; if you could
   not complete the task, say so.
Constraints:
"""


def component_document(spec: Any) -> str:
    doc = {
        "name": spec.name,
        "version": spec.version,
        "kind": spec.kind,
        "purpose": spec.purpose,
        "parameters": spec.parameters,
        "error_modes": [m.error_type for m in spec.error_modes],
        "retries": spec.retries,
        "retry_on": list(spec.retry_on),
        "fallback": spec.fallback,
        "capabilities": list(spec.capabilities),
    }
    return json.dumps(doc, sort_keys=True)


def system_prompt(task: Task, mode: str) -> str:
    if mode == "goal":
        return DEFAULT_SYSTEM
    if mode != "framework":
        raise ValueError(f"prompt mode {mode!r}: use one of {', '.join(PROMPT_MODES)}")
    docs = "\n".join(component_document(s) for s in resolve_components(task.components).values())
    return f"{LLM_OS}{constitution.as_prompt()}\n# Components\n{docs}"
