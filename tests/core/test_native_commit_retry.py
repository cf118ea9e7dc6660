"""Native Delta writes that lose a commit race are tried again; other failures are not, and a
write whose app transaction another writer committed meanwhile is not repeated."""

from __future__ import annotations

import pyarrow as pa
import pytest

from tracelake.jobs.errors import ConcurrentWriteError, JobFailedError
from tracelake.jobs.lake import spark_io
from tracelake.jobs.lake.catalog import TableSpec

# What str() of a Py4J error from DataFrameWriter.save looks like (first two lines).
CONFLICT = (
    "An error occurred while calling o424.save.\n"
    ": io.delta.exceptions.MetadataChangedException: [DELTA_METADATA_CHANGED] The metadata of "
    "the Delta table has been changed by a concurrent update. Please try the operation again.\n"
    "\tat org.apache.spark.sql.delta.DeltaErrors$.metadataChangedException(DeltaErrors.scala:1)"
)
OTHER = (
    "An error occurred while calling o9.save.\n"
    ": java.nio.file.AccessDeniedException: s3a://bucket/lake/gold/x: 403 Forbidden\n"
)
SPEC = TableSpec(tier="gold", name="examples", schema=pa.schema([("item", pa.string())]))


class FakeLake:
    def __init__(self, txn_seen: int | None = None) -> None:
        self.txn_seen = txn_seen

    def txn_version(self, spec, app_id):
        return self.txn_seen


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch):
    monkeypatch.setattr(spark_io.time, "sleep", lambda s: None)


def _writer(monkeypatch, failures: list[str]) -> list[int]:
    calls: list[int] = []

    def write_native(*args, **kwargs):
        calls.append(1)
        if failures:
            raise RuntimeError(failures.pop(0))

    monkeypatch.setattr(spark_io, "_write_native", write_native)
    return calls


def test_a_lost_commit_race_is_tried_again_until_it_commits(monkeypatch):
    calls = _writer(monkeypatch, [CONFLICT, CONFLICT])
    assert spark_io._write_native_retrying(None, SPEC, FakeLake(), "append", [], "w", None)
    assert len(calls) == 3


def test_other_failures_are_not_retried(monkeypatch):
    calls = _writer(monkeypatch, [OTHER])
    with pytest.raises(RuntimeError):
        spark_io._write_native_retrying(None, SPEC, FakeLake(), "append", [], "w", None)
    assert len(calls) == 1


def test_a_retry_stops_when_another_writer_committed_the_same_app_transaction(monkeypatch):
    calls = _writer(monkeypatch, [CONFLICT])
    done = spark_io._write_native_retrying(
        None, SPEC, FakeLake(txn_seen=4), "append", [("job", 4)], "w", None
    )
    assert done is False and len(calls) == 1


def test_retries_are_bounded_and_the_error_says_what_happened(monkeypatch):
    calls = _writer(monkeypatch, [CONFLICT] * 10)
    with pytest.raises(RuntimeError) as raised:
        spark_io._write_native_retrying(None, SPEC, FakeLake(), "append", [], "w", None)
    assert len(calls) == spark_io.NATIVE_COMMIT_ATTEMPTS
    error = spark_io._translate(raised.value, SPEC)
    assert isinstance(error, ConcurrentWriteError)
    assert "MetadataChangedException" in str(error)


def test_a_jvm_failure_is_reported_by_its_exception_not_py4j_s_call_id(monkeypatch):
    error = spark_io._translate(RuntimeError(OTHER), SPEC)
    assert isinstance(error, JobFailedError)
    assert "AccessDeniedException: s3a://bucket/lake/gold/x: 403 Forbidden" in str(error)
    assert "o9.save" not in str(error)
