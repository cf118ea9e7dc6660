"""The alias table: which names mean the same component.

Each canonical component lists the names other producers use for it. Names that differ from a
listed one only by case, separators (`web_fetch`, `web-fetch`), a version suffix (`_v2`), a
registry prefix (`tool_`, `agent_`) or a `Tool`/`Agent` suffix are matched automatically and
need no entry. Add an entry when a producer uses a genuinely different word. Two entries (or an
entry and an automatic match) that would make one name mean two components are an error at load
time, never a silent merge. `tracelake report` lists every name that matched nothing here.

The framework-tool aliases (WebFetcherTool -> WebFetch, ...) and the native tools live with the
ingest name resolver (jobs/ingest/component_names.py); they are part of this table too.
"""

from __future__ import annotations

# canonical name -> (kind, other names)
COMPONENTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "SystemAgent": ("agent", ("Orchestrator", "SystemOrchestrator")),
    "SummarizationAgent": ("agent", ("Summarizer", "SummaryAgent", "SummarizerAgent")),
    "AnalysisAgent": ("agent", ("Analyst", "DataAnalysisAgent")),
    "TranslationAgent": ("agent", ("Translator", "TranslatorAgent")),
    "ContentWriterAgent": ("agent", ("Writer", "WriterAgent")),
    "ReviewAgent": ("agent", ("Reviewer", "ReviewerAgent", "QualityCheckAgent")),
    "WebFetch": ("tool", ("WebFetcherTool", "WebFetcher", "Fetch", "HttpFetch")),
    "WebSearch": ("tool", ()),
    "Grep": ("tool", ("SearchTool",)),
    "Read": ("tool", ("FileReaderTool", "FileReader", "ReadFile")),
    "Write": ("tool", ("FileWriterTool", "FileWriter", "WriteFile")),
    "Bash": ("tool", ("SystemTool", "Shell")),
    "Task": ("tool", ("SubTaskTool",)),
}
