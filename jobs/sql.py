"""`tracelake sql`: Spark SQL over every lake table, each a view named `<tier>_<name>`."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pyarrow as pa

from .context import JobContext
from .errors import SqlQueryError
from .lake import catalog, spark_io

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


# Spark appends the analysed plan and context after the message; a person needs the message.
_SQLSTATE_TAIL = re.compile(r"\s*SQLSTATE: \w+.*$", re.DOTALL)


def register_views(ctx: JobContext, spark: SparkSession) -> list[str]:
    """(Re)create a temp view for every catalog table; tables not created yet are empty views."""
    names = []
    for spec in catalog.all_tables():
        if ctx.lake.version(spec) is None:
            df = spark.createDataFrame([], spark_io.spark_schema(spec.schema))
        else:
            df = spark_io.read(spark, spec, lake=ctx.lake)
        df.createOrReplaceTempView(spec.view_name)
        names.append(spec.view_name)
    return names


def _message(exc: BaseException, views: list[str]) -> str:
    text = getattr(exc, "getMessage", lambda: str(exc))() or str(exc)
    text = _SQLSTATE_TAIL.sub("", text.strip()).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    if "TABLE_OR_VIEW_NOT_FOUND" in first:
        first = first.split(". ")[0] + f". Tables: {', '.join(views)}"
    return first[:500]


def query(ctx: JobContext, sql: str, spark: SparkSession | None = None) -> pa.Table:
    """Run one SQL statement over the lake and return its result as an Arrow table."""
    from pyspark.errors import PySparkException

    if not sql or not sql.strip():
        raise SqlQueryError("empty query; give a SQL statement, e.g. SELECT * FROM silver_runs")
    if spark is None:
        from .spark import get_session

        spark = get_session(ctx.settings)
    views = register_views(ctx, spark)
    try:
        return spark.sql(sql).toArrow()
    except PySparkException as exc:
        raise SqlQueryError(f"SQL error: {_message(exc, views)}") from None
