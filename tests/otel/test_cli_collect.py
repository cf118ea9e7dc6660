"""`tracelake collect` as a user runs it: listens, stores what it receives, stops on Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

from tracelake.jobs.context import JobContext
from tracelake.jobs.lake import catalog

FIXTURE = Path(__file__).parents[1] / "fixtures" / "otel" / "current_semconv.otlp.json"
TRACELAKE = str(Path(sys.executable).with_name("tracelake"))


def test_collect_command_stores_posted_spans_and_stops_cleanly(local_settings, tmp_path):
    env = {**os.environ, "TRACELAKE_LAKE_ROOT": local_settings.lake_root, "COLUMNS": "200"}
    proc = subprocess.Popen(
        [TRACELAKE, "collect", "--port", "0", "--flush-interval", "0.1"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        assert line.startswith("listening on http://127.0.0.1:"), line + proc.stderr.read()
        url = line.split("listening on ", 1)[1].strip()
        request = urllib.request.Request(
            url if url.endswith("/v1/traces") else url.rstrip("/") + "/v1/traces",
            data=FIXTURE.read_bytes(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 200
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    events = JobContext.create(local_settings).lake.read(catalog.BRONZE_EVENTS).to_pylist()
    assert events and {e["dialect"] for e in events} == {"otel.otlp_http"}
    assert {"run_started", "tool_call", "tool_result"} <= {e["event_type"] for e in events}
