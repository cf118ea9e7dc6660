"""`tracelake sql`: SQL over every lake table, as `bronze.events` or the alias `bronze_events`.

Two engines answer the same names: `embedded` (DuckDB over the Delta file lists; about a second
on a laptop, the default on the embedded setup) and `spark` (Spark SQL; the default when
`spark.master` is a cluster, and the only one with DESCRIBE HISTORY and time travel, on native
Delta). Both are read-only unless `allow_unsafe` (see query/embedded.py, query/spark_sql.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Protocol

import pyarrow as pa

from .context import JobContext
from .errors import SqlQueryError
from .query.statements import split_statements

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

ENGINES = ("embedded", "spark")
__all__ = ["ENGINES", "SqlQueryError", "default_engine", "open_engine", "query", "run_script"]


class Engine(Protocol):
    name: str

    def run(self, statement: str) -> pa.Table: ...

    def close(self) -> None: ...


def default_engine(ctx: JobContext) -> str:
    return "embedded" if ctx.settings.spark.master.startswith("local") else "spark"


def open_engine(
    ctx: JobContext,
    engine: str | None = None,
    *,
    allow_unsafe: bool = False,
    spark: SparkSession | None = None,
) -> Engine:
    engine = engine or ("spark" if spark is not None else default_engine(ctx))
    if engine == "embedded":
        from .query.embedded import EmbeddedEngine

        return EmbeddedEngine(ctx, allow_unsafe=allow_unsafe)
    if engine == "spark":
        from .query.spark_sql import SparkEngine

        return SparkEngine(ctx, allow_unsafe=allow_unsafe, spark=spark)
    raise SqlQueryError(f"unknown SQL engine {engine!r}; use one of {', '.join(ENGINES)}")


def run_script(engine: Engine, text: str) -> Iterator[tuple[str, pa.Table]]:
    """Run each statement of `text` in order, yielding (statement, result)."""
    statements = split_statements(text or "")
    if not statements:
        raise SqlQueryError("empty query; give a SQL statement, e.g. SELECT * FROM silver.runs")
    for statement in statements:
        yield statement, engine.run(statement)


def query(
    ctx: JobContext,
    sql: str,
    spark: SparkSession | None = None,
    *,
    engine: str | None = None,
    allow_unsafe: bool = False,
) -> pa.Table:
    """Run SQL over the lake and return the last statement's result as an Arrow table."""
    opened = open_engine(ctx, engine, allow_unsafe=allow_unsafe, spark=spark)
    try:
        results = list(run_script(opened, sql))
    finally:
        opened.close()
    return results[-1][1]
