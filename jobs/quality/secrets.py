"""The scrub's detectors (jobs/silver/scrub) as a Spark SQL function, so that a gate can assert
that no secret or personal-data pattern reached gold with the very rules the scrub applies."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

# The SQL name of the function: detector names found in a text, comma separated, or NULL.
SECRET_FINDINGS_FUNCTION = "tracelake_secret_findings"


def secret_findings(text: str | None) -> str | None:
    """The names of the scrub detectors that find something in `text` (None: nothing found).
    Placeholders left by the scrub are never findings (the scrubber guards them)."""
    if not text:
        return None
    from ..silver.scrub.scrubber import Finding, Scrubber

    findings: list[Finding] = []
    # The run key only shapes placeholders, which are discarded here.
    Scrubber("quality-gate").text(text, "gate", findings)
    return ",".join(sorted({f.detector for f in findings})) or None


def register_secret_findings(spark: SparkSession) -> None:
    from pyspark.sql.functions import udf

    # Arrow-batched: the detectors run on batches of texts, not one pickled row at a time.
    spark.udf.register(SECRET_FINDINGS_FUNCTION, udf(secret_findings, "string", useArrow=True))
