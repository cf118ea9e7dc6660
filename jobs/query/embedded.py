"""The embedded SQL engine: DuckDB over the Delta tables' current file lists.

Each lake table is a DuckDB view over `DeltaTable.to_pyarrow_dataset()` (delta-rs reads the log
and hands DuckDB exactly the live data files with their partition values), so no DuckDB
extension is needed: the `delta` extension is version-locked to a DuckDB release and cannot be
downloaded at run time. Views: `bronze.events` (schema per tier) and the alias `bronze_events`.

Read-only by default: only SELECT / EXPLAIN statements run, DuckDB's file system access is off
(no `read_csv('/etc/passwd')`, COPY, ATTACH or extension loading) and the configuration is
locked so a query cannot switch it back on. `allow_unsafe` lifts all of this (operators).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa

from ..errors import SqlQueryError
from .names import column_comments, lake_tables

if TYPE_CHECKING:
    import duckdb

    from ..context import JobContext

READ_ONLY_TYPES = ("SELECT", "EXPLAIN")


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class EmbeddedEngine:
    name = "embedded"

    def __init__(self, ctx: JobContext, allow_unsafe: bool = False) -> None:
        import duckdb

        self.allow_unsafe = allow_unsafe
        self.con = duckdb.connect(":memory:")
        self.tables: list[str] = []
        for table in lake_tables():
            spec = table.spec
            delta = ctx.lake.table(spec)
            source = delta.to_pyarrow_dataset() if delta is not None else spec.schema.empty_table()
            hidden = f"__lake_{table.alias}"
            self.con.register(hidden, source)
            self.con.execute(f"CREATE SCHEMA IF NOT EXISTS {spec.tier}")
            self.con.execute(f"CREATE VIEW {table.qualified} AS SELECT * FROM {hidden}")
            self.con.execute(f"CREATE VIEW {table.alias} AS SELECT * FROM {table.qualified}")
            for column, text in column_comments(spec).items():
                for view in (table.qualified, table.alias):
                    self.con.execute(f'COMMENT ON COLUMN {view}."{column}" IS {_quote(text)}')
            self.tables.append(table.qualified)
        # Spark's name for unnesting an array, so the same queries run on both engines.
        self.con.execute("CREATE MACRO explode(x) AS unnest(x)")
        if not allow_unsafe:
            self.con.execute("SET enable_external_access = false")
            self.con.execute("SET lock_configuration = true")

    def _check_read_only(self, statement: str) -> None:
        import duckdb

        try:
            parsed = self.con.extract_statements(statement)
        except duckdb.Error as exc:
            raise SqlQueryError(f"SQL error: {_first_line(exc)}") from None
        for item in parsed:
            kind = str(item.type).rsplit(".", 1)[-1]
            if kind not in READ_ONLY_TYPES:
                raise SqlQueryError(
                    f"read-only: {kind} statements are refused by `tracelake sql`; only queries "
                    "run (operators: --allow-writes lifts this)"
                )

    def run(self, statement: str) -> pa.Table:
        import duckdb

        if not self.allow_unsafe:
            self._check_read_only(statement)
        try:
            relation = self.con.sql(statement)
            table = relation.to_arrow_table() if relation is not None else pa.table({})
        except duckdb.PermissionException as exc:
            raise SqlQueryError(
                f"read-only: {_first_line(exc)} (`tracelake sql` reads lake tables only; "
                "operators: --allow-writes lifts this)"
            ) from None
        except duckdb.CatalogException as exc:
            raise SqlQueryError(
                f"SQL error: {_first_line(exc)}. Tables: {', '.join(self.tables)}"
            ) from None
        except duckdb.Error as exc:
            raise SqlQueryError(f"SQL error: {_first_line(exc)}") from None
        return table

    def close(self) -> None:
        self.con.close()


def _first_line(exc: BaseException | duckdb.Error) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:500]
