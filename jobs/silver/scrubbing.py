"""What the scrub_events and scrub_log jobs share: reading the bronze events to scrub (in this
process when few, by Spark when many) and scrubbing them into either output.

Both jobs read the same bronze versions and scrub them with the same keys, so the log always
describes exactly what silver.events holds; each has its own bookmark and commits its own table,
so each is exactly once on its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import TYPE_CHECKING

import pyarrow as pa

from ..lake import catalog, spark_io
from ..lake.delta_source import plan_scan, read_arrow
from ..runner import JobInput
from .scrub.batch import scrub_table

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

# Below this many new rows, scrub here: a Spark stage through Python workers costs seconds.
LOCAL_MAX_ROWS = 200_000
BRONZE = catalog.BRONZE_EVENTS


def scrubbed_events(batch: pa.Table, secret: str) -> pa.Table:
    table, _ = scrub_table(batch, secret)
    return table.select(catalog.SILVER_EVENTS.schema.names).cast(catalog.SILVER_EVENTS.schema)


def scrub_log_rows(batch: pa.Table, secret: str) -> pa.Table:
    _, log = scrub_table(batch, secret)
    return pa.Table.from_pylist(log, schema=catalog.OPS_SCRUB_LOG.schema)


def _map_batches(
    batches: Iterator[pa.RecordBatch], secret: str, output: str
) -> Iterator[pa.RecordBatch]:
    """mapInArrow body (module level, so Spark can pickle it)."""
    convert = scrubbed_events if output == "events" else scrub_log_rows
    for batch in batches:
        yield from convert(pa.Table.from_batches([batch]), secret).to_batches()


def scrub(job: JobInput, output: str) -> tuple[DataFrame, str, bool]:
    """The job's rows: `output` is "events" (silver.events) or "log" (ops.scrub_log). Returns
    the DataFrame, the write mode (overwrite for a full run, else append) and whether the rows
    were scrubbed in this process (a small batch)."""
    bronze = job.range(BRONZE)
    lake, spark = job.ctx.lake, job.spark
    secret = job.ctx.settings.privacy.secret()
    spec = catalog.SILVER_EVENTS if output == "events" else catalog.OPS_SCRUB_LOG
    schema = spark_io.spark_schema(spec.schema)
    full = job.full or bronze.is_full
    after = None if full else bronze.after
    plan = plan_scan(
        lake.uri(BRONZE), lake.storage_options, version=bronze.upto, after_version=after
    )
    mode = "overwrite" if full else "append"
    if sum(f.num_records or 0 for f in plan.files) <= LOCAL_MAX_ROWS:
        events = read_arrow(lake.uri(BRONZE), lake.storage_options, plan.files, BRONZE.schema)
        rows = (scrubbed_events if output == "events" else scrub_log_rows)(events, secret)
        return spark_io.from_arrow(spark, rows), mode, True
    events = spark_io.read(spark, BRONZE, lake=lake, version=bronze.upto, after_version=after)
    mapped = events.mapInArrow(partial(_map_batches, secret=secret, output=output), schema)
    return mapped, mode, False
