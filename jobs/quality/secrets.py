"""The scrub's detectors (jobs/silver/scrub) as a Spark SQL function, so that a gate can assert
that no secret or personal-data pattern reached gold with the very rules the scrub applies.

The function takes a batch of texts at once (an Arrow UDF): the scrub's prefilter sets aside, in
one RE2 pass over the batch, every text no detector could match, and only the rest meet the
detectors."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

# The SQL name of the function: detector names found in a text, comma separated, or NULL.
SECRET_FINDINGS_FUNCTION = "tracelake_secret_findings"


def secret_findings_batch(texts: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Per text: the names of the scrub detectors that find something in it, comma separated
    (null: nothing found). Placeholders left by the scrub are never findings (the scrubber
    guards them)."""
    from ..silver.scrub.prefilter import flag_array
    from ..silver.scrub.scrubber import Finding, Scrubber

    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks()
    out: list[str | None] = [None] * len(texts)
    flagged = flag_array(texts)
    # The run key only shapes placeholders, which are discarded here.
    scrubber = Scrubber("quality-gate")
    for row, hits in flagged.items():
        text = texts[row].as_py()
        if not text:
            continue
        findings: list[Finding] = []
        scrubber.text(text, "gate", findings, hits)
        out[row] = ",".join(sorted({f.detector for f in findings})) or None
    return pa.array(out, pa.string())


def secret_findings(text: str | None) -> str | None:
    """`secret_findings_batch` for one text."""
    return secret_findings_batch(pa.array([text], pa.string()))[0].as_py()


def register_secret_findings(spark: SparkSession) -> None:
    from pyspark.sql.functions import arrow_udf

    @arrow_udf("string")  # type: ignore[call-overload]  # pyspark's overloads want no `pa.Array` hint
    def findings(texts: pa.Array) -> pa.Array:
        return secret_findings_batch(texts)

    spark.udf.register(SECRET_FINDINGS_FUNCTION, findings)
