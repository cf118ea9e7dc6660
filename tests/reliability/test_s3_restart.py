"""The S3 server dies in the middle of an ingest: the run fails with one line (no traceback),
and once the server is back the same ingest stores exactly the input's events."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from eventlines import event, write_lines

from tracelake.jobs.context import JobContext
from tracelake.jobs.lake import catalog
from tracelake.jobs.settings import S3Settings, Settings

# Ingest that kills the S3 server's process group right after its first events commit.
KILL_SERVER_AFTER_FIRST_COMMIT = textwrap.dedent(
    """
    import os, signal, sys
    from tracelake.jobs.cli import app
    from tracelake.jobs.lake.store import Lake

    server_pgid, paths = int(sys.argv[1]), sys.argv[2:]
    real = Lake.commit_files

    def commit_files(self, spec, files, **kw):
        version = real(self, spec, files, **kw)
        os.killpg(server_pgid, signal.SIGKILL)
        return version

    Lake.commit_files = commit_files
    app(["ingest", *paths])
    """
)


@pytest.mark.s3
@pytest.mark.skipif(not os.environ.get("RUN_CHAOS"), reason="make chaos (~1 min)")
def test_s3_server_killed_mid_run_then_restarted(tmp_path):
    from s3server import S3Server

    (tmp_path / "seaweedfs").mkdir()
    server = S3Server(tmp_path / "seaweedfs").start()
    try:
        bucket = server.create_bucket("lake-restart")
        lines = [event(i, run=f"r{i // 20}") for i in range(600)]
        paths = [
            str(write_lines(tmp_path / "in" / f"part{k}.jsonl", lines[k * 200 : (k + 1) * 200]))
            for k in range(3)
        ]
        base_env = {k: v for k, v in os.environ.items() if not k.startswith("TRACELAKE_")}
        lake_root = f"s3://{bucket}/lake"

        def env() -> dict[str, str]:
            return {
                **base_env,
                **server.env(),
                "TRACELAKE_LAKE_ROOT": lake_root,
                "TRACELAKE_INGEST__BATCH_ROWS": "200",
            }

        first = subprocess.run(
            [sys.executable, "-c", KILL_SERVER_AFTER_FIRST_COMMIT, str(server._proc.pid), *paths],
            env=env(),
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert first.returncode != 0
        assert "Traceback" not in first.stderr, first.stderr[-3000:]
        assert [line for line in first.stderr.splitlines() if line.startswith("error:")]

        server.stop()
        server.start()  # same data directory, new ports
        again = subprocess.run(
            [str(Path(sys.executable).with_name("tracelake")), "ingest", *paths],
            env=env(),
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert again.returncode == 0, again.stderr[-3000:]
        settings = Settings(
            lake_root=lake_root,
            s3=S3Settings(
                endpoint_url=server.endpoint,
                access_key_id=server.access_key,
                secret_access_key=server.secret_key,
                region="us-east-1",
            ),
        )
        ids = (
            JobContext.create(settings)
            .lake.read(catalog.BRONZE_EVENTS, columns=["event_id"])["event_id"]
            .to_pylist()
        )
        assert len(ids) == len(set(ids)) and set(ids) == {e["event_id"] for e in lines}
    finally:
        server.stop()
