"""JSON validity and JSON Schema conformance as Spark SQL functions for the gates.

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


def register_json_checks(spark: SparkSession) -> None:
    from pyspark.sql.functions import udf

    spark.udf.register(JSON_ERROR_FUNCTION, udf(json_error, "string", useArrow=True))
    spark.udf.register(JSON_SCHEMA_ERROR_FUNCTION, udf(json_schema_error, "string", useArrow=True))
