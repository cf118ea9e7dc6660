"""`tracelake sql --engine spark`: Spark SQL over the lake, with the embedded engine's names.

Every table is a temp view `<tier>_<name>` whose columns carry the schema docs as comments;
`bronze.events` in a query means that view. On native Delta, `DESCRIBE HISTORY bronze.events`,
`DESCRIBE DETAIL bronze.events` and `bronze.events VERSION|TIMESTAMP AS OF ...` address the Delta
table itself (Delta's own history and time travel).

Read-only by default, checked on Spark's parse of the text before anything runs: queries
(`parseQuery` accepts them) and a few describe/show/explain statements pass; every relation must
be a lake table or a CTE of the query (no `csv.`/path`` or `delta.`path``, no table functions
that read files), and JVM reflection (`reflect`, `java_method`) is refused.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pyarrow as pa

from ..errors import SqlQueryError
from ..lake import spark_io
from .names import column_comments, known_names, lake_tables, namespaced_pattern

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from ..context import JobContext

# Spark appends the analysed plan and context after the message; a person needs the message.
_SQLSTATE_TAIL = re.compile(r"\s*SQLSTATE: \w+.*$", re.DOTALL)
ALLOWED_COMMANDS = {
    "DescribeDeltaHistory",
    "DescribeDeltaDetailCommand",
    "DescribeRelation",
    "DescribeColumn",
    "ShowTables",
    "ShowViews",
    "ShowColumns",
    "ShowFunctions",
    "DescribeFunction",
    "ExplainCommand",
}
ALLOWED_TABLE_FUNCTIONS = {
    "range",
    "explode",
    "explode_outer",
    "posexplode",
    "posexplode_outer",
    "inline",
    "inline_outer",
    "stack",
    "json_tuple",
}
_RELATION = re.compile(
    r"'Unresolved(?:Relation|Table|TableOrView|View|DeltaPathOrIdentifier|Identifier)"
    r"\b[^\[\n]*\[([^\]]*)\]"
)
_TABLE_FUNCTION = re.compile(r"'UnresolvedTableValuedFunction \[([^\]]*)\]")
_REFLECTION = re.compile(r"'(?:try_reflect|reflect|java_method)\(", re.IGNORECASE)
_CTE_NAME = re.compile(
    r"(?:\bWITH\b|,)\s*(?:RECURSIVE\s+)?`?(\w+)`?\s*(?:\([^)]*\)\s*)?AS\s*\(", re.IGNORECASE
)
_DELTA_ONLY_BEFORE = re.compile(r"DESCRIBE\s+(?:HISTORY|DETAIL)\s+$", re.IGNORECASE)
_DELTA_ONLY_AFTER = re.compile(r"^\s+(?:VERSION|TIMESTAMP)\s+AS\s+OF\b", re.IGNORECASE)


def _refuse(what: str) -> SqlQueryError:
    return SqlQueryError(
        f"read-only: {what} is refused by `tracelake sql` (operators: --allow-writes lifts this)"
    )


def check_read_only(spark: SparkSession, statement: str) -> None:
    """Raise SqlQueryError unless `statement` only reads lake tables."""
    from py4j.protocol import Py4JJavaError
    from pyspark.errors import PySparkException

    # PySpark turns JVM exceptions of any py4j call into PySparkExceptions (ParseException).
    failures = (Py4JJavaError, PySparkException)
    parser = spark._jsparkSession.sessionState().sqlParser()  # type: ignore[attr-defined]
    try:
        plan = parser.parseQuery(statement)
    except failures:
        try:
            plan = parser.parsePlan(statement)
        except failures as exc:
            raise SqlQueryError(f"SQL error: {_java_message(exc)}") from None
        kind = plan.getClass().getSimpleName()
        if kind not in ALLOWED_COMMANDS:
            raise _refuse(f"a {kind} statement") from None
    text = plan.toString()
    if _REFLECTION.search(text):
        raise _refuse("JVM reflection (reflect/java_method)")
    for match in _TABLE_FUNCTION.finditer(text):
        name = match.group(1).strip("`").lower()
        if name not in ALLOWED_TABLE_FUNCTIONS:
            raise _refuse(f"the table function {name}")
    allowed = known_names() | {m.group(1).lower() for m in _CTE_NAME.finditer(statement)}
    for match in _RELATION.finditer(text):
        parts = [p.strip().strip("`") for p in match.group(1).split(",")]
        name = ".".join(parts).lower()
        if name not in allowed:
            raise _refuse(f"reading {'.'.join(parts)} (not a lake table)")


def register_views(ctx: JobContext, spark: SparkSession) -> list[str]:
    """(Re)create a temp view for every catalog table; tables not created yet are empty views."""
    from pyspark.sql import functions as F

    names = []
    for spec in [t.spec for t in lake_tables()]:
        if ctx.lake.version(spec) is None:
            df = spark.createDataFrame([], spark_io.spark_schema(spec.schema))
        else:
            df = spark_io.read(spark, spec, lake=ctx.lake)
        comments = column_comments(spec)
        if comments:
            df = df.select(
                *(
                    F.col(c).alias(c, metadata={"comment": comments[c]}) if c in comments else c
                    for c in df.columns
                )
            )
        df.createOrReplaceTempView(spec.view_name)
        names.append(spec.view_name)
    return names


def rewrite_names(ctx: JobContext, spark: SparkSession, statement: str) -> str:
    """`bronze.events` -> the `bronze_events` view, or the Delta table itself where only Delta
    can answer (history, detail, time travel; native engine)."""
    from ..lake.catalog import get

    native = spark_io.is_native(spark)
    pattern = namespaced_pattern()
    pieces, last = [], 0
    for match in _outside_quotes(pattern, statement):
        spec = get(match.group(1).lower())
        before, after = statement[: match.start()], statement[match.end() :]
        delta_only = _DELTA_ONLY_BEFORE.search(before) or _DELTA_ONLY_AFTER.match(after)
        if delta_only and native:
            target = f"delta.`{spark_io.native_uri(ctx.lake.uri(spec))}`"
        elif delta_only:
            raise SqlQueryError(
                "DESCRIBE HISTORY/DETAIL and time travel need native Delta on Spark "
                "(spark.delta = native and `make native-jars`)"
            )
        else:
            target = spec.view_name
        pieces.append(statement[last : match.start()] + target)
        last = match.end()
    pieces.append(statement[last:])
    return "".join(pieces)


def _outside_quotes(pattern: re.Pattern[str], text: str) -> list[re.Match[str]]:
    quoted, i = [], 0
    while i < len(text):
        if text[i] in "'\"":
            end = text.find(text[i], i + 1)
            end = len(text) if end < 0 else end
            quoted.append((i, end))
            i = end + 1
        else:
            i += 1
    return [m for m in pattern.finditer(text) if not any(a <= m.start() <= b for a, b in quoted)]


class SparkEngine:
    name = "spark"

    def __init__(
        self, ctx: JobContext, allow_unsafe: bool = False, spark: SparkSession | None = None
    ) -> None:
        if spark is None:
            from ..spark import get_session

            spark = get_session(ctx.settings)
        self.ctx, self.spark, self.allow_unsafe = ctx, spark, allow_unsafe
        self.views = register_views(ctx, spark)

    def run(self, statement: str) -> pa.Table:
        from py4j.protocol import Py4JJavaError
        from pyspark.errors import PySparkException

        if not self.allow_unsafe:
            check_read_only(self.spark, statement)
        text = rewrite_names(self.ctx, self.spark, statement)
        try:
            return self.spark.sql(text).toArrow()
        except PySparkException as exc:
            raise SqlQueryError(f"SQL error: {_message(exc, self.views)}") from None
        except Py4JJavaError as exc:
            raise SqlQueryError(f"SQL error: {_java_message(exc)}") from None

    def close(self) -> None:
        pass


def _java_message(exc: BaseException) -> str:
    java = getattr(exc, "java_exception", None)
    if hasattr(exc, "getMessage"):
        text = exc.getMessage() or str(exc)  # a PySparkException
    elif java is not None:
        text = str(java.getMessage())
    else:
        text = str(exc)
    text = _SQLSTATE_TAIL.sub("", text.strip()).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:500]


def _message(exc: BaseException, views: list[str]) -> str:
    text = getattr(exc, "getMessage", lambda: str(exc))() or str(exc)
    text = _SQLSTATE_TAIL.sub("", text.strip()).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    if "TABLE_OR_VIEW_NOT_FOUND" in first:
        names = [t.qualified for t in lake_tables()]
        first = first.split(". ")[0] + f". Tables: {', '.join(names)} (or {', '.join(views)})"
    return first[:500]
