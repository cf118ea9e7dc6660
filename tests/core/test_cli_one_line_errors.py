"""Errors are one line, never a traceback; user text is never console markup; credentials in
an endpoint URL are never echoed."""

from __future__ import annotations

import http.server
import os
import subprocess
import sys
import threading
from pathlib import Path

from eventlines import event, write_lines

TRACELAKE = str(Path(sys.executable).with_name("tracelake"))


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("TRACELAKE_", "AWS_"))}
    return subprocess.run(
        [TRACELAKE, *args],
        capture_output=True,
        text=True,
        env={**full_env, **(env or {})},
        timeout=180,
    )


def test_paths_are_not_markup_or_emoji(tmp_path):
    missing = tmp_path / "traces" / "x[/]y" / "a:x:b.jsonl"
    done = run_cli("ingest", str(missing), env={"TRACELAKE_LAKE_ROOT": str(tmp_path / "lake")})
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "x[/]y/a:x:b.jsonl" in done.stderr.replace("\n", "")


class _NotS3(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<html><body><h1>Not Found</h1>\n<p>nothing here</p>\n</body></html>\n"
        self.send_response(404)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_PUT = do_POST = do_HEAD = do_DELETE = do_GET

    def log_message(self, *args: object) -> None:
        pass


def test_an_endpoint_that_is_not_s3_and_one_with_credentials_give_one_line(tmp_path):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _NotS3)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        path = write_lines(tmp_path / "a.jsonl", [event(0)])
        endpoint = f"http://someone:s3cr3t-pw@127.0.0.1:{server.server_address[1]}"
        done = run_cli(
            "ingest",
            str(path),
            env={
                "TRACELAKE_LAKE_ROOT": "s3://bucket/lake",
                "TRACELAKE_S3__ENDPOINT_URL": endpoint,
                "AWS_ACCESS_KEY_ID": "k",
                "AWS_SECRET_ACCESS_KEY": "s",
            },
        )
    finally:
        server.shutdown()
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and "s3cr3t-pw" not in done.stderr + done.stdout
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "S3 server" in errors[0]
    assert len(done.stderr.strip().splitlines()) <= 2  # the error, and at most one warning
