"""`tracelake eval` end to end: results appended to ops.eval_results, episodes ingested as
events with the policy as producer, the report drawn in headless Chromium; bad task files and
options rejected in one line; an OpenAI-compatible endpoint served by a local HTTP server."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
from cli_helpers import assert_one_line_error, run_cli

from tracelake.jobs.context import JobContext
from tracelake.jobs.environment.tasks import TASKS_DIR
from tracelake.jobs.evaluation.job import make_policy, run_eval
from tracelake.jobs.evaluation.model_policies import EndpointPolicy
from tracelake.jobs.evaluation.runner import EvalOptions
from tracelake.jobs.lake import catalog
from tracelake.jobs.settings import Settings, load_settings

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _ctx(root: Path) -> JobContext:
    return JobContext.create(
        Settings(lake_root=str(root / "lake"), export_root=str(root / "ex"), landing=str(root))
    )


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval")
    for policy in ("random", "oracle"):
        proc = run_cli(
            "--lake", str(root / "lake"), "eval", "--policy", policy, "--levels", "1,3",
            "--tasks-per-level", "6", "--trials", "2", cwd=root,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
    return root, proc.stdout


def test_results_and_events_are_in_the_lake(evaluated):
    root, stdout = evaluated
    assert "completion 1.000" in stdout and "report:" in stdout
    ctx = _ctx(root)
    rows = ctx.lake.read(catalog.OPS_EVAL_RESULTS).to_pylist()
    assert {r["policy"] for r in rows} == {"oracle", "random"}
    episodes = [r for r in rows if r["scope"] == "episode" and r["policy"] == "oracle"]
    assert len([r for r in episodes if not r["memory"]]) == 2 * 12
    assert all(r["success"] for r in episodes)
    alls = [json.loads(r["metrics_json"]) for r in rows if r["scope"] == "all"]
    assert sorted(a["completion"] for a in alls)[-1] == 1.0
    events = ctx.lake.read(catalog.BRONZE_EVENTS, columns=["run_id", "event_type", "attributes"])
    runs = {r["run_id"] for r in episodes}
    by_run = [e for e in events.to_pylist() if e["run_id"] in runs]
    assert {e["run_id"] for e in by_run} == runs
    assert dict(by_run[0]["attributes"])["producer"] == "oracle@-"
    assert {"run_started", "tool_call", "tool_result", "run_completed"} <= {
        e["event_type"] for e in by_run
    }
    # every event of every episode was accepted: nothing quarantined
    if ctx.lake.version(catalog.BRONZE_QUARANTINE) is not None:
        assert ctx.lake.read(catalog.BRONZE_QUARANTINE).num_rows == 0


@pytest.mark.skipif(CHROMIUM is None, reason="needs the chromium package")
def test_the_report_is_drawn_offline_in_headless_chromium(evaluated, tmp_path):
    _, stdout = evaluated
    page = Path(stdout.rsplit("report: ", 1)[1].strip())
    text = page.read_text()
    assert "https://" not in text and "http://" not in text.replace(
        "http://www.w3.org/2000/svg", ""
    )
    dom = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
         "--disable-background-networking", "--disable-component-update",
         f"--user-data-dir={tmp_path / 'chromium'}", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120, check=True,
    ).stdout  # fmt: skip
    assert 'data-report-ready="1"' in dom
    assert dom.count('class="level-chart"') >= 10
    compare = [
        int(n)
        for n in __import__("re").findall(r'class="compare-chart"[^>]*data-drawn="(\d+)"', dom)
    ]
    assert compare and max(compare) == 2  # this run against the earlier random run


def _bad_tasks(root: Path, edit) -> Path:
    folder = root / "tasks"
    folder.mkdir()
    lines = (TASKS_DIR / "level1.jsonl").read_text().splitlines()
    record = json.loads(lines[0])
    edit(record)
    (folder / "level1.jsonl").write_text(json.dumps(record) + "\n")
    return folder


@pytest.mark.parametrize(
    "edit, reason",
    [
        (lambda r: r["components"].append("TelepathyTool@9.9"), "unknown component"),
        (lambda r: r["success"].update(capability="mind_reading"), "no component or gap"),
    ],
)
def test_bad_task_files_are_rejected_with_path_and_reason(tmp_path, edit, reason):
    folder = _bad_tasks(tmp_path, edit)
    proc = run_cli(
        "--lake", str(tmp_path / "lake"), "eval", "--policy", "oracle", "--levels", "1",
        "--tasks", str(folder), cwd=tmp_path,
    )  # fmt: skip
    assert_one_line_error(proc, str(folder / "level1.jsonl") + ":1", reason)


def test_bad_options_are_one_line_errors(tmp_path):
    for args, fragment in (
        (["--policy", "oracle", "--levels", "4"], "--levels"),
        (["--policy", "oracle", "--prompt", "chatty"], "--prompt"),
        (["--policy", str(tmp_path / "nowhere")], "not oracle, random, replay"),
    ):
        proc = run_cli("--lake", str(tmp_path / "lake"), "eval", *args, cwd=tmp_path)
        assert_one_line_error(proc, fragment)


class _Scripted(BaseHTTPRequestHandler):
    """Answers chat completions like the oracle would, from the conversation it is sent."""

    seen: list[dict] = []

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        _Scripted.seen.append({"auth": self.headers.get("Authorization"), **body})
        goal = body["messages"][1]["content"]
        from tracelake.jobs.environment import load_tasks

        task = next(t for t in load_tasks((1,)) if t.goal == goal)
        done = sum(1 for m in body["messages"] if m["role"] == "assistant")
        if done < len(task.expert_plan):
            step = task.expert_plan[done]
            message = {"role": "assistant", "content": None, "tool_calls": [{
                "id": f"c{done}", "type": "function",
                "function": {"name": step["name"], "arguments": json.dumps(step["arguments"])},
            }]}  # fmt: skip
        else:
            message = {"role": "assistant", "content": "The report is written."}
        data = json.dumps({"choices": [{"index": 0, "message": message}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def test_an_openai_compatible_endpoint_is_evaluated_and_its_key_kept_out(tmp_path, monkeypatch):
    server = HTTPServer(("127.0.0.1", 0), _Scripted)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("TRACELAKE_EVALUATION__API_KEY", "sk-test-secret-123456")
    try:
        url = f"http://user:pw@127.0.0.1:{server.server_port}/v1?token=abc"
        policy = make_policy(url, model="scripted", settings=load_settings())
        assert isinstance(policy, EndpointPolicy)
        ctx = _ctx(tmp_path)
        options = EvalOptions(levels=(1,), tasks_per_level=3, chance_faults=False, faults=False,
                              memory_sequence=0)  # fmt: skip
        run, _ = run_eval(ctx, policy, options, report=False)
    finally:
        server.shutdown()
    assert run.summary["all"]["completion"] == 1.0
    assert _Scripted.seen[0]["auth"] == "Bearer sk-test-secret-123456"
    assert _Scripted.seen[0]["tools"] and _Scripted.seen[0]["model"] == "scripted"
    # tool results go back with the ids of the calls they answer
    later = _Scripted.seen[1]["messages"]
    assert (
        later[-1]["role"] == "tool"
        and later[-1]["tool_call_id"] == later[-2]["tool_calls"][0]["id"]
    )
    rows = ctx.lake.read(catalog.OPS_EVAL_RESULTS).to_pylist()
    stored = json.dumps(rows, default=str)
    assert "sk-test" not in stored and "pw@" not in stored and "token" not in stored
    assert rows[0]["checkpoint"] == f"http://127.0.0.1:{server.server_port}/v1#scripted"
