"""The collector killed with SIGKILL under load, then started again: exporters that retry
until they get a 200 lose nothing and store nothing twice (make chaos)."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
from urllib.parse import urlparse

import pytest

from tracelake.jobs.context import JobContext
from tracelake.jobs.lake import catalog
from tracelake.jobs.settings import Settings

T0 = 1_767_225_600_000_000_000
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def start(lake: str, port: int) -> tuple[subprocess.Popen, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACELAKE_")}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tracelake.jobs.collect",
            "--port",
            str(port),
            "--flush-interval",
            "0.05",
        ],
        env={**env, "TRACELAKE_LAKE_ROOT": lake},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    line = proc.stdout.readline()
    assert line.startswith("listening on http://127.0.0.1:"), line
    return proc, line.split()[-1]


def request_for(client: int, n: int) -> bytes:
    span = {
        "traceId": TRACE,
        "spanId": f"{client + 1:04x}{n + 1:012x}",
        "parentSpanId": "b7ad6b7169203331",
        "name": "chat gpt",
        "startTimeUnixNano": str(T0 + n * 1000),
        "endTimeUnixNano": str(T0 + n * 1000 + 500),
        "attributes": [{"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}}],
    }
    return json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}).encode()


def send_until_acknowledged(url: list[str], body: bytes, deadline: float) -> None:
    while time.monotonic() < deadline:
        parsed = urlparse(url[0])
        try:
            conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=30)
            conn.request("POST", "/v1/traces", body, {"Content-Type": "application/json"})
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError("never acknowledged")


@pytest.mark.skipif(not os.environ.get("RUN_CHAOS"), reason="make chaos (~1 min)")
def test_collector_killed_under_load_loses_nothing(tmp_path):
    lake = str(tmp_path / "lake")
    proc, url = start(lake, 0)
    port = urlparse(url).port
    urls = [url]
    clients, per_client = 4, 40
    deadline = time.monotonic() + 240
    errors: list[BaseException] = []

    def client(c: int) -> None:
        try:
            for n in range(per_client):
                send_until_acknowledged(urls, request_for(c, n), deadline)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    for t in threads:
        t.start()
    time.sleep(3)  # under load
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc, urls[0] = start(lake, port)
    try:
        for t in threads:
            t.join(300)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    assert not errors, errors
    ids = (
        JobContext.create(Settings(lake_root=lake))
        .lake.read(catalog.BRONZE_EVENTS, columns=["event_id"])["event_id"]
        .to_pylist()
    )
    expected = {
        f"otel:{TRACE}:{c + 1:04x}{n + 1:012x}:start"
        for c in range(clients)
        for n in range(per_client)
    }
    assert len(ids) == len(set(ids)) and set(ids) == expected
