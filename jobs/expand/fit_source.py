"""Where the environment's fitted figures come from: `silver.component_usage`, real runs only.

One row per component version: calls and errors summed over the real runs that used it, and
the call-weighted median of the runs' median latencies (usage keeps no per-call latencies).
Rows of synthetic runs are left out here, so generated data never feeds back into the
environment that generated it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..environment.fitting import EnvironmentFit, VersionUsage, environment_fit
from ..lake import catalog, spark_io

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from ..lake.store import Lake

SOURCE = catalog.SILVER_COMPONENT_USAGE
COLUMNS = ("component", "version", "synthetic", "calls", "errors", "latency_n", "latency_p50_ms")


def real_usage(spark: SparkSession, lake: Lake, version: int) -> list[VersionUsage]:
    """Per-version usage of the real runs in silver.component_usage at `version`."""
    from pyspark.sql import functions as F

    rows = (
        spark_io.read(spark, SOURCE, lake=lake, columns=COLUMNS, version=version)
        .where(~F.col("synthetic") & (F.col("calls") > 0))
        .groupBy("component", "version")
        .agg(
            F.sum("calls").alias("calls"),
            F.sum("errors").alias("errors"),
            F.expr(
                "percentile(latency_p50_ms, 0.5, latency_n) "
                "FILTER (WHERE latency_n > 0 AND latency_p50_ms IS NOT NULL)"
            ).alias("latency_ms"),
        )
        .collect()
    )
    return sorted(
        (
            VersionUsage(
                r["component"], r["version"], int(r["calls"]), int(r["errors"]), r["latency_ms"]
            )
            for r in rows
        ),
        key=lambda u: (u.component, u.version),
    )


def current_fit(spark: SparkSession, lake: Lake, version: int) -> EnvironmentFit:
    return environment_fit(real_usage(spark, lake, version))
