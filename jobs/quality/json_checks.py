"""JSON validity, JSON Schema conformance and tool calls against their tools as Spark SQL
functions for the gates.

GX's own JSON expectations run as one plain Python UDF call per row and per metric (about 30 s
per 1,000 rows for a JSON Schema on a 2-core machine); these are Arrow-batched, and the schema's
validator is built once per worker, not once per row."""

from __future__ import annotations

import json
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

# SQL names: each returns NULL when the value is fine (or NULL), else a short reason.
JSON_ERROR_FUNCTION = "tracelake_json_error"
JSON_SCHEMA_ERROR_FUNCTION = "tracelake_json_schema_error"
TOOL_CALLS_ERROR_FUNCTION = "tracelake_tool_calls_error"


def json_error(text: str | None) -> str | None:
    if text is None:
        return None
    try:
        json.loads(text)
    except ValueError as exc:
        return f"not JSON: {exc.__class__.__name__}"[:120]
    return None


@cache
def _validator(schema_name: str) -> Any:
    import jsonschema

    from .contracts import json_schema

    schema = json_schema(schema_name)
    return jsonschema.validators.validator_for(schema)(schema)


def json_schema_error(schema_name: str, text: str | None) -> str | None:
    if text is None:
        return None
    try:
        doc = json.loads(text)
    except ValueError:
        return "not JSON"
    error = next(iter(_validator(schema_name).iter_errors(doc)), None)
    if error is None:
        return None
    where = "/".join(str(p) for p in error.absolute_path) or "(root)"
    return f"{where}: {error.validator}"[:120]  # never the value itself


def _loaded(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str | bytes) else value


def _field(item: Any, name: str) -> Any:
    if isinstance(item, dict):
        return item.get(name)
    return getattr(item, name, None) if not isinstance(item, list | tuple | str) else None


def tool_calls_error(messages: Any, tools: Any) -> str | None:
    """Why a conversation's tool calls break its tools (None when every call names a tool of
    `tools` and its arguments, a JSON object, validate against that tool's parameters schema).

    messages: a list of messages (dicts, or Spark rows), or that list as JSON text (Spark passes
    `to_json(messages)`); tools: the OpenAI-style tools list as JSON text. The arguments are
    judged by the same validator assembly uses (schemas.component_spec.argument_problems), so a
    call assembly would reject as unknown_tool / invalid_arguments fails here too. The reason
    names the message, the tool and the broken parameter, never the value. A null, or `tools`
    that is not JSON (its own `json` rule fails), passes."""
    if messages is None or tools is None:
        return None
    from tracelake.schemas.component_spec import argument_problems

    try:
        declared = _loaded(tools)
        listed = _loaded(messages)
    except ValueError:
        return None  # `tools` that is not JSON fails its own format rule, not this one
    by_name: dict[str, Any] = {}
    for tool in declared if isinstance(declared, list) else []:
        function = tool.get("function") if isinstance(tool, dict) else None
        if isinstance(function, dict) and isinstance(function.get("name"), str):
            by_name[function["name"]] = function.get("parameters") or {}
    for i, message in enumerate(listed or []):
        for call in _field(message, "tool_calls") or []:
            function = _field(call, "function")
            name = _field(function, "name")
            if name not in by_name:
                return f"message {i}: calls {str(name)[:40]!r}, not a tool of `tools`"
            try:
                args = json.loads(_field(function, "arguments") or "{}")
            except ValueError:
                return f"message {i}: {name} arguments are not JSON"
            if not isinstance(args, dict):
                return f"message {i}: {name} arguments are not an object"
            problems = argument_problems(by_name[name], args)
            if problems:
                return f"message {i}: {name} {problems[0].split(', got ')[0]}"[:120]
    return None


def register_json_checks(spark: SparkSession) -> None:
    from pyspark.sql.functions import udf

    spark.udf.register(JSON_ERROR_FUNCTION, udf(json_error, "string", useArrow=True))
    spark.udf.register(JSON_SCHEMA_ERROR_FUNCTION, udf(json_schema_error, "string", useArrow=True))
    spark.udf.register(TOOL_CALLS_ERROR_FUNCTION, udf(tool_calls_error, "string", useArrow=True))
