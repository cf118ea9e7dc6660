"""Shared fixtures: settings on a temporary local lake, a real S3 server, one Spark session."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import hypothesis
import pytest

from tracelake.jobs.context import JobContext
from tracelake.jobs.settings import S3Settings, Settings

# The Delta engine behaviour tests run on: TRACELAKE_SPARK__DELTA=native|bridge (default bridge).
# The one test session loads the native jars whenever they are cached, so the golden tests can
# run both engines in it (tests/spark/test_engines.py).
SPARK_DELTA_ENGINE = os.environ.get("TRACELAKE_SPARK__DELTA", "bridge")
# Settings must come from the fixtures, never from a developer's shell or tracelake.toml.
for _name in [n for n in os.environ if n.startswith("TRACELAKE_")]:
    del os.environ[_name]

# Hypothesis profiles: `ci` (what `make test` loads) is sized for a 2-core runner and
# reproducible (derandomized); `dev` explores more. Tests that set max_examples keep theirs.
hypothesis.settings.register_profile(
    "ci",
    max_examples=20,
    deadline=None,
    derandomize=True,
    print_blob=True,
    suppress_health_check=[hypothesis.HealthCheck.too_slow],
)
hypothesis.settings.register_profile("dev", max_examples=100, deadline=None)
hypothesis.settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


@pytest.fixture
def local_settings(tmp_path: Path) -> Settings:
    return Settings(
        lake_root=str(tmp_path / "lake"),
        export_root=str(tmp_path / "exports"),
        landing=str(tmp_path / "landing"),
    )


@pytest.fixture
def ctx(local_settings: Settings) -> JobContext:
    return JobContext.create(local_settings)


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    from s3server import S3Server

    server = S3Server(tmp_path_factory.mktemp("seaweedfs")).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def s3_settings(s3_server, tmp_path: Path) -> Settings:
    bucket = s3_server.create_bucket(f"lake-{uuid.uuid4().hex[:12]}")
    return Settings(
        lake_root=f"s3://{bucket}/lake",
        export_root=f"s3://{bucket}/exports",
        landing=f"s3://{bucket}/landing",
        s3=S3Settings(
            endpoint_url=s3_server.endpoint,
            access_key_id=s3_server.access_key,
            secret_access_key=s3_server.secret_key,
            region="us-east-1",
        ),
    )


@pytest.fixture(scope="session")
def spark():
    from tracelake.jobs.spark import get_session, set_delta_engine

    session = get_session(Settings(spark={"master": "local[2]", "delta": "auto"}))
    set_delta_engine(session, "bridge" if SPARK_DELTA_ENGINE == "auto" else SPARK_DELTA_ENGINE)
    yield session
    session.stop()  # closes the py4j gateway before interpreter shutdown logs into closed files
