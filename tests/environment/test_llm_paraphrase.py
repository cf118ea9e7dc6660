"""LLM goal paraphrase against a real HTTP endpoint on loopback (an OpenAI-compatible stub):
answers are used and recorded in the lineage, a rebuild asks nothing (the cache), scrubbed text
only leaves the process, answers that drop a goal's values fall back to the templates, and a
misconfigured endpoint fails before any work."""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tracelake.jobs.expand.expander import ExpandConfigError, check_settings, expand_run
from tracelake.jobs.expand.paraphrase import LlmParaphraser, usable
from tracelake.jobs.settings import ExpandSettings

from .test_expand import WEB_GOAL, seed_run


class Stub:
    """Answers /models and /chat/completions; records what it was sent."""

    def __init__(self, rewrite=lambda goal: f"As a favour, kindly do this: {goal}") -> None:
        self.sent: list[str] = []
        self.rewrite = rewrite
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep the test output clean
                pass

            def _reply(self, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                self._reply({"data": [{"id": "stub"}]})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                goal = body["messages"][-1]["content"]
                stub.sent.append(goal)
                answer = stub.rewrite(goal)
                self._reply({"choices": [{"message": {"role": "assistant", "content": answer}}]})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def stub():
    s = Stub()
    yield s
    s.close()


def _settings(url: str, tmp_path) -> ExpandSettings:
    return ExpandSettings(
        variations_per_seed=12,
        seed=3,
        transform_mix={"goal_paraphrase": 1.0},
        max_transforms=1,
        llm_endpoint=url,
        llm_cache_dir=str(tmp_path / "cache"),
    )


def _paraphrased(expansion) -> list[tuple[str, dict]]:
    out = []
    for events, row in expansion.accepted:
        (step,) = json.loads(row["transforms"])
        out.append((events[0]["goal"], step))
    return out


def test_llm_answers_are_used_recorded_and_cached(stub, tmp_path):
    settings = _settings(stub.url, tmp_path)
    check_settings(settings)
    first = expand_run(seed_run(WEB_GOAL), settings)
    used = _paraphrased(first)
    assert used, [r["reason"] for r in first.rejected]
    for goal, step in used:
        assert goal.startswith("As a favour, kindly do this: "), goal
        assert step == {"transform": "goal_paraphrase", "template": None, "llm": True}
    asked = len(stub.sent)
    assert asked >= 1

    # a rebuild gives the same runs and asks the endpoint nothing
    again = expand_run(seed_run(WEB_GOAL), settings)
    assert len(stub.sent) == asked
    assert [e for e, _ in again.accepted] == [e for e, _ in first.accepted]


def test_an_answer_that_drops_a_value_falls_back_to_the_template(tmp_path):
    lossy = Stub(rewrite=lambda goal: "Write a summary about batteries")
    try:
        expansion = expand_run(seed_run(WEB_GOAL), _settings(lossy.url, tmp_path))
    finally:
        lossy.close()
    assert lossy.sent
    for goal, step in _paraphrased(expansion):
        assert step["llm"] is False and step["template"] is not None
        assert "out/batt.md" in goal


def test_only_scrubbed_text_is_sent(stub, tmp_path):
    llm = LlmParaphraser(stub.url, "m", tmp_path / "cache")
    secret = "AKIAIOSFODNN7EXAMPLE"
    llm.paraphrase(f"Deploy with key {secret} and write the log to out/deploy.md")
    (sent,) = stub.sent
    assert secret not in sent and "<SECRET:" in sent


def test_a_misconfigured_endpoint_fails_before_any_work(tmp_path):
    with pytest.raises(
        ExpandConfigError,
        match=re.escape("expand.llm_endpoint: paraphrase endpoint http://127.0.0.1:9/v1"),
    ):
        check_settings(_settings("http://127.0.0.1:9/v1", tmp_path))
    with pytest.raises(ExpandConfigError, match="must be an http"):
        check_settings(_settings("ftp://example.org", tmp_path))


def test_usable_needs_a_real_rewrite_that_keeps_every_value():
    goal = "Fetch https://example.org/a and write 3 bullet points to out/a.md"
    assert usable(goal, "Get https://example.org/a, then put 3 bullet points in out/a.md")
    assert not usable(goal, goal)
    assert not usable(goal, "Get the page and write bullets to out/a.md")  # URL and 3 lost
    assert not usable(goal, "")
