"""Printing query results: a table for people, CSV or JSON lines for programs.

User data is never interpreted: cells are plain `Text` (no rich markup, no `:emoji:` codes), and
nested values (lists, structs, maps) are JSON text in CSV, as any CSV reader expects.
"""

from __future__ import annotations

import json
import sys
from datetime import date, datetime
from decimal import Decimal
from typing import IO, Any

import pyarrow as pa
import pyarrow.compute as pc
from rich.console import Console
from rich.table import Table
from rich.text import Text

FORMATS = ("table", "csv", "json")


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _to_json(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, list) and value and all(isinstance(v, tuple) for v in value):
        value = dict(value)  # Arrow maps come back as [(key, value), ...]
    return json.dumps(value, default=_json_default, ensure_ascii=False)


def _nested(dtype: pa.DataType) -> bool:
    return (
        pa.types.is_list(dtype)
        or pa.types.is_large_list(dtype)
        or pa.types.is_struct(dtype)
        or pa.types.is_map(dtype)
        or pa.types.is_fixed_size_list(dtype)
    )


def flatten_nested(table: pa.Table) -> pa.Table:
    """Nested columns as JSON text; everything else untouched."""
    columns = []
    for column in table.columns:
        if _nested(column.type):
            columns.append(pa.array([_to_json(v) for v in column.to_pylist()], pa.string()))
        elif pa.types.is_dictionary(column.type):
            columns.append(pc.cast(column, column.type.value_type))
        else:
            columns.append(column)
    return pa.table(columns, names=table.column_names)


def write_csv(table: pa.Table, sink: IO[bytes]) -> None:
    import pyarrow.csv as pacsv

    pacsv.write_csv(flatten_nested(table), sink)


def write_json_lines(table: pa.Table, sink: IO[str]) -> None:
    for row in table.to_pylist():
        sink.write(json.dumps(row, default=_json_default, ensure_ascii=False) + "\n")


def cell(value: Any) -> Text:
    if value is None:
        return Text("")
    if isinstance(value, list | dict):
        return Text(_to_json(value) or "")
    return Text(str(value))


def print_table(table: pa.Table, console: Console, max_rows: int = 50) -> None:
    view = Table()
    for name in table.column_names:
        view.add_column(Text(name))
    for row in table.slice(0, max_rows).to_pylist():
        view.add_row(*(cell(v) for v in row.values()))
    console.print(view)
    if table.num_rows > max_rows:
        console.print(Text(f"... {table.num_rows - max_rows} more rows (use --format csv for all)"))


def emit(table: pa.Table, fmt: str, console: Console, max_rows: int = 50) -> None:
    if fmt == "csv":
        write_csv(table, sys.stdout.buffer)
        sys.stdout.buffer.flush()
    elif fmt == "json":
        write_json_lines(table, sys.stdout)
        sys.stdout.flush()
    else:
        print_table(table, console, max_rows)
