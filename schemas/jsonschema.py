"""Generate `agent_event.schema.json` from the model: `python -m tracelake.schemas.jsonschema`.

The file is committed so that producers outside Python can validate against it; a test fails
when it is stale.
"""

from __future__ import annotations

import json
from pathlib import Path

from .agent_event import AgentEvent

SCHEMA_FILE = Path(__file__).with_name("agent_event.schema.json")


def render() -> str:
    schema = AgentEvent.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://tracelake.dev/schemas/agent_event.schema.json"
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def main() -> None:
    SCHEMA_FILE.write_text(render())
    print(f"wrote {SCHEMA_FILE}")


if __name__ == "__main__":
    main()
