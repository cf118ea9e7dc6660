"""Goal paraphrase by an LLM behind an OpenAI-compatible endpoint (`expand.llm_endpoint`).

Only scrubbed text leaves the process: the goal goes through the scrub's detectors first, so a
secret or personal value that reached a goal is sent as its placeholder. Every answer is kept
in an on-disk cache keyed by endpoint model, prompt and goal, so a rebuild (or another worker)
asks nothing twice and the expansion stays deterministic once the cache holds an answer.
Temperature 0 and a fixed seed make a first answer as repeatable as the endpoint allows.

A paraphrase that drops a value of the goal (a quoted name, a number, a URL, a file path) is
refused here and the deterministic template is used instead; the expansion's semantic check
would reject such a variation anyway.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

from ..errors import TracelakeError
from ..silver.scrub.scrubber import Scrubber

PROMPT_VERSION = 1
SYSTEM_PROMPT = (
    "Rewrite the user's task in different words for the same agent. Keep every name, number, "
    "URL, file path and quoted value exactly as written. Reply with the rewritten task only."
)
# What a paraphrase must keep verbatim: URLs, paths and file names, numbers, quoted values.
_KEPT = re.compile(r"https?://\S+|[\w./-]+\.\w{1,5}\b|\b\d[\d.,]*\b|\"[^\"]+\"|'[^']+'")


class ParaphraseEndpointError(TracelakeError):
    """The paraphrase endpoint is misconfigured or unreachable."""


def _redacted(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    return f"{parts.scheme}://{host}{parts.path}"


class LlmParaphraser:
    """`paraphrase(goal)` -> the endpoint's rewrite (cached), or None when it is unusable."""

    def __init__(
        self,
        endpoint: str,
        model: str,
        cache_dir: str | Path,
        *,
        api_key: str | None = None,
        timeout_s: float = 30.0,
    ) -> None:
        parts = urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ParaphraseEndpointError(
                f"expand.llm_endpoint must be an http(s) URL of an OpenAI-compatible API "
                f"(e.g. http://127.0.0.1:8000/v1), not {endpoint!r}"
            )
        self.endpoint = endpoint.rstrip("/")
        self.model = model
        self.cache_dir = Path(cache_dir)
        self.api_key = api_key
        self.timeout_s = timeout_s
        self.requests = 0  # completions asked of the endpoint by this object (cache misses)

    # -- the endpoint ------------------------------------------------------------------------

    def _post(self, path: str, body: dict | None) -> dict:
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.endpoint + path, data, headers, method="GET" if body is None else "POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                return json.loads(response.read())
        except (urllib.error.URLError, TimeoutError, ValueError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ParaphraseEndpointError(
                f"paraphrase endpoint {_redacted(self.endpoint)}: {reason}"
            ) from None

    def check(self) -> None:
        """One cheap request (the model list) before any work: a misconfigured endpoint fails
        the job here, in one line. With answers already cached, an unreachable endpoint is
        tolerated: a rebuild asks nothing."""
        try:
            self._post("/models", None)
        except ParaphraseEndpointError:
            if not any(self.cache_dir.glob("*.json")):
                raise

    def _complete(self, goal: str) -> str:
        self.requests += 1
        reply = self._post(
            "/chat/completions",
            {
                "model": self.model,
                "messages": [
                    {"role": "system", "content": SYSTEM_PROMPT},
                    {"role": "user", "content": goal},
                ],
                "temperature": 0,
                "seed": 0,
            },
        )
        try:
            return str(reply["choices"][0]["message"]["content"] or "").strip()
        except (KeyError, IndexError, TypeError):
            raise ParaphraseEndpointError(
                f"paraphrase endpoint {_redacted(self.endpoint)}: reply has no "
                "choices[0].message.content"
            ) from None

    # -- the cache ---------------------------------------------------------------------------

    def _path(self, goal: str) -> Path:
        key = json.dumps([PROMPT_VERSION, self.model, SYSTEM_PROMPT, goal])
        return self.cache_dir / (hashlib.sha256(key.encode()).hexdigest() + ".json")

    def _store(self, path: Path, goal: str, answer: str) -> None:
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        # Written whole then renamed: concurrent workers never read half an answer.
        fd, tmp = tempfile.mkstemp(dir=self.cache_dir, suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            json.dump({"goal": goal, "answer": answer, "model": self.model}, f)
        os.replace(tmp, path)

    # -- the paraphrase ----------------------------------------------------------------------

    def paraphrase(self, goal: str) -> str | None:
        sent = Scrubber("paraphrase").text(goal, "goal", [])
        path = self._path(sent)
        if path.exists():
            answer = json.loads(path.read_text())["answer"]
        else:
            answer = self._complete(sent)
            self._store(path, sent, answer)
        return answer if usable(sent, answer) else None


def usable(goal: str, answer: str) -> bool:
    """An answer that is a real rewrite and keeps every value of the goal verbatim."""
    if not answer or answer == goal or len(answer) > 4 * len(goal) + 40 or "\n\n" in answer:
        return False
    return all(value in answer for value in _KEPT.findall(goal))
