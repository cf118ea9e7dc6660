"""What the simulated LLM-OS knows: its components (with their version histories) and the
scenario catalogue (goal templates per benchmark level, each following one workflow pattern).

Pure data. The behaviour that uses it lives in `world.py` (evolution) and `runs.py` (execution).
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Fetch -> Process -> Output, Parallel -> Merge -> Summarize, Refine -> Check -> Finalize:
# the three abstract workflow shapes that pattern mining is expected to rediscover.
FETCH_PROCESS_OUTPUT = "fetch_process_output"
PARALLEL_MERGE_SUMMARIZE = "parallel_merge_summarize"
REFINE_CHECK_FINALIZE = "refine_check_finalize"
PATTERNS = (FETCH_PROCESS_OUTPUT, PARALLEL_MERGE_SUMMARIZE, REFINE_CHECK_FINALIZE)


@dataclass(frozen=True)
class VersionSpec:
    """One released version of a component and how it behaves."""

    version: str
    registry_id: str
    # error_type -> probability per call; sampled in this order.
    errors: tuple[tuple[str, float], ...]
    latency_ms: tuple[float, float]  # (typical, spread): lognormal-ish around typical
    tokens: tuple[int, int] = (0, 0)  # typical (in, out) for LLM-backed components
    note: str = ""  # the change this version made (said in component_evolved reasoning)


@dataclass(frozen=True)
class ComponentSpec:
    name: str
    kind: str  # agent | tool
    purpose: str  # infinitive: reads after "can" in reasoning text
    versions: tuple[VersionSpec, ...]
    # evolve_after[i]: errors seen on versions[i] before the orchestrator replaces it.
    evolve_after: tuple[int, ...] = ()
    native_alias: str | None = None  # framework tool this one wraps (WebFetcherTool -> WebFetch)


def _v(version, registry_id, errors=(), latency=(400.0, 0.5), tokens=(0, 0), note=""):
    return VersionSpec(version, registry_id, tuple(errors), latency, tokens, note)


COMPONENTS: dict[str, ComponentSpec] = {
    c.name: c
    for c in (
        ComponentSpec(
            "SystemAgent",
            "agent",
            "orchestrate runs: read the goal, consult memory, plan, delegate, learn",
            (_v("1.4.0", "agent_system_v1", latency=(2200.0, 0.4), tokens=(2400, 450)),),
        ),
        ComponentSpec(
            "WebFetcherTool",
            "tool",
            "fetch a URL and return readable text",
            (
                _v(
                    "1.0",
                    "tool_web_fetcher_v1",
                    [("http_403", 0.16), ("timeout", 0.07)],
                    (900.0, 0.6),
                ),
                _v(
                    "1.1",
                    "tool_web_fetcher_v1_1",
                    [("http_403", 0.035), ("timeout", 0.03)],
                    (950.0, 0.5),
                    note="sends browser-like headers and honours robots.txt, retries with "
                    "exponential backoff",
                ),
                _v(
                    "1.2",
                    "tool_web_fetcher_v1_2",
                    [("http_403", 0.02), ("timeout", 0.012)],
                    (800.0, 0.45),
                    note="falls back to a cached copy by itself and streams large pages",
                ),
            ),
            evolve_after=(40, 90),
            native_alias="WebFetch",
        ),
        ComponentSpec(
            "SearchTool",
            "tool",
            "search the web or the workspace and return ranked hits",
            (_v("1.0", "tool_search_v1", [("timeout", 0.02)], (600.0, 0.5)),),
            native_alias="Grep",
        ),
        ComponentSpec(
            "FileReaderTool",
            "tool",
            "read a workspace file",
            (_v("1.0", "tool_file_reader_v1", [("file_not_found", 0.015)], (40.0, 0.5)),),
            native_alias="Read",
        ),
        ComponentSpec(
            "FileWriterTool",
            "tool",
            "write an output file into the workspace",
            (_v("1.0", "tool_file_writer_v1", [("permission_denied", 0.006)], (35.0, 0.5)),),
            native_alias="Write",
        ),
        ComponentSpec(
            "SummarizationAgent",
            "agent",
            "condense documents into structured summaries with key points",
            (
                _v(
                    "1.0.0",
                    "agent_summarizer_v1",
                    [("bad_output", 0.13), ("timeout", 0.02)],
                    (5200.0, 0.4),
                    (3800, 700),
                ),
                _v(
                    "2.0.0",
                    "agent_summarizer_v2",
                    [("bad_output", 0.025), ("timeout", 0.015)],
                    (4300.0, 0.35),
                    (3600, 650),
                    note="SummarizationAgent_v2: validates its output against a JSON schema "
                    "and cites source spans for every key point",
                ),
            ),
            evolve_after=(25,),
        ),
        ComponentSpec(
            "AnalysisAgent",
            "agent",
            "analyse data or documents and produce findings with evidence",
            (
                _v(
                    "1.0.0",
                    "agent_analysis_v1",
                    [("bad_output", 0.05), ("timeout", 0.02)],
                    (7400.0, 0.4),
                    (4600, 1100),
                ),
            ),
        ),
        ComponentSpec(
            "TranslationAgent",
            "agent",
            "translate source material into English, keeping terminology",
            (
                _v(
                    "1.2.0",
                    "agent_translator_v1_2",
                    [("timeout", 0.08), ("bad_output", 0.03)],
                    (6100.0, 0.45),
                    (2600, 2400),
                ),
                _v(
                    "1.3.0",
                    "agent_translator_v1_3",
                    [("timeout", 0.02), ("bad_output", 0.025)],
                    (4800.0, 0.4),
                    (2600, 2350),
                    note="translates in chunks of 2k tokens so long documents stop timing out",
                ),
            ),
            evolve_after=(20,),
        ),
        ComponentSpec(
            "ContentWriterAgent",
            "agent",
            "draft and revise prose for a given audience",
            (
                _v(
                    "1.0.0",
                    "agent_writer_v1",
                    [("bad_output", 0.04)],
                    (8800.0, 0.35),
                    (3000, 1800),
                ),
            ),
        ),
        ComponentSpec(
            "ReviewAgent",
            "agent",
            "check a draft against the brief and list concrete issues",
            (_v("1.0.0", "agent_reviewer_v1", [("timeout", 0.01)], (3900.0, 0.35), (3400, 380)),),
        ),
    )
}


@dataclass(frozen=True)
class NovelNeed:
    """A capability no existing component has: the first run that needs it creates it."""

    component: str
    kind: str
    purpose: str
    goal: str  # template with {topic}/{target}
    targets: tuple[str, ...]
    error: tuple[str, float]  # the new component's teething problem at 0.1.0


@dataclass(frozen=True)
class Scenario:
    name: str
    level: str  # single_domain | cross_domain | novel
    domain: str
    pattern: str
    goals: tuple[str, ...]  # templates filled from SLOTS
    weight: float
    needs: tuple[NovelNeed, ...] = field(default=())


TOPICS = (
    "solid-state batteries",
    "small modular reactors",
    "retrieval-augmented generation",
    "heat pump adoption in Europe",
    "open-source vector databases",
    "carbon capture pricing",
    "GLP-1 drug supply chains",
    "edge AI accelerators",
    "quantum-safe cryptography",
    "vertical farming economics",
    "satellite internet competition",
    "lithium recycling",
    "remote work productivity",
    "sodium-ion batteries",
    "EU AI Act compliance",
    "RISC-V in data centres",
    "green hydrogen electrolysers",
    "agentic coding tools",
    "microplastics in drinking water",
    "urban air mobility",
)
DATASETS = (
    "sales_2025_q4.csv",
    "web_traffic_daily.parquet",
    "support_tickets.jsonl",
    "sensor_readings_plant3.csv",
    "churn_cohorts.csv",
    "energy_prices_hourly.csv",
    "app_latency_p99.csv",
    "survey_responses_2025.csv",
)
METRICS = ("weekly growth", "seasonality", "anomalies", "cohort retention", "regional variance")
CONTENT_KINDS = ("blog post", "product announcement", "newsletter", "FAQ page", "talk abstract")
AUDIENCES = ("engineers", "executives", "new customers", "investors", "students")
MARKETS = (
    "home energy storage",
    "industrial IoT",
    "AI code assistants",
    "cold-chain logistics",
    "telemedicine",
    "e-bike sharing",
)
TECHS = (
    "on-device LLM inference",
    "digital twins",
    "LoRaWAN sensors",
    "vector search",
    "WebAssembly plugins",
    "federated learning",
)
INDUSTRIES = ("retail banking", "insurance", "automotive", "pharma", "logistics", "media")
LANGUAGE_PAIRS = (
    ("German", "French"),
    ("Japanese", "Korean"),
    ("Spanish", "Portuguese"),
    ("Chinese", "German"),
    ("French", "Italian"),
)
# Source titles in the languages above: multi-language runs carry real non-ASCII text.
FOREIGN_TITLES = {
    "German": "Marktüberblick: Wärmepumpen und Speicher",
    "French": "Étude de marché : l'énergie décentralisée",
    "Japanese": "市場動向レポート：蓄電池",  # noqa: RUF001 (real Japanese punctuation)
    "Korean": "시장 동향 보고서: 배터리",
    "Spanish": "Análisis del mercado energético español",
    "Portuguese": "Análise do mercado de energia em Portugal",
    "Chinese": "储能市场分析报告",
    "Italian": "Analisi del mercato dell'energia in Italia",
}

NOVEL_NEEDS = (
    NovelNeed(
        "PatentClaimExtractorTool",
        "tool",
        "parse patent filings and extract independent claims with their dependencies",
        "Extract the independent claims from recent patent filings on {topic} and map them "
        "to {target}",
        ("our product roadmap", "competitor products", "open standards"),
        ("bad_output", 0.14),
    ),
    NovelNeed(
        "TranscriptSentimentAgent",
        "agent",
        "track sentiment shifts across podcast or earnings-call transcripts",
        "Track how sentiment about {topic} shifted across the last 10 {target}",
        ("earnings calls", "industry podcasts", "conference keynotes"),
        ("bad_output", 0.12),
    ),
    NovelNeed(
        "RegulationDiffAgent",
        "agent",
        "compare two versions of a regulation and list changed obligations",
        "Compare the two latest drafts of the rules on {topic} and list obligations that "
        "changed for {target}",
        ("SMEs", "cloud providers", "hospitals"),
        ("bad_output", 0.1),
    ),
    NovelNeed(
        "CodeComplexityTool",
        "tool",
        "compute cyclomatic complexity and churn hot spots for a repository",
        "Measure code complexity hot spots in the {target} repository and explain the risk "
        "for {topic}",
        ("payments-service", "mobile-app", "data-pipeline"),
        ("timeout", 0.1),
    ),
    NovelNeed(
        "SatelliteImageryTool",
        "tool",
        "fetch satellite tiles for coordinates and compute change indices",
        "Estimate construction progress at {target} from satellite imagery to inform "
        "a report on {topic}",
        ("the Gigafactory site", "the new port terminal", "the solar park"),
        ("timeout", 0.12),
    ),
)

SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "web_research_summary",
        "single_domain",
        "research",
        FETCH_PROCESS_OUTPUT,
        (
            "Research {topic} on the web and write a summary to {file}",
            "Find the latest news about {topic} and summarise the key points in {file}",
        ),
        0.22,
    ),
    Scenario(
        "data_analysis",
        "single_domain",
        "analytics",
        FETCH_PROCESS_OUTPUT,
        (
            "Analyse {dataset} and report {metric} in {file}",
            "Load {dataset}, find {metric} and write the findings to {file}",
        ),
        0.14,
    ),
    Scenario(
        "content_creation",
        "single_domain",
        "content",
        REFINE_CHECK_FINALIZE,
        ("Write a {content_kind} about {topic} for {audience}",),
        0.14,
    ),
    Scenario(
        "market_research_technical",
        "cross_domain",
        "research+engineering",
        PARALLEL_MERGE_SUMMARIZE,
        (
            "Research the {market} market and assess the technical feasibility of {tech}",
            "Size the {market} market and analyse whether {tech} gives a technical edge",
        ),
        0.14,
    ),
    Scenario(
        "literature_review_business",
        "cross_domain",
        "science+business",
        PARALLEL_MERGE_SUMMARIZE,
        ("Review recent literature on {topic} and derive business implications for {industry}",),
        0.12,
    ),
    Scenario(
        "multilingual_brief",
        "cross_domain",
        "research+language",
        PARALLEL_MERGE_SUMMARIZE,
        ("Summarise {lang1} and {lang2} sources on {topic} into an English brief",),
        0.1,
    ),
    Scenario(
        "novel_capability",
        "novel",
        "open",
        FETCH_PROCESS_OUTPUT,
        tuple(n.goal for n in NOVEL_NEEDS),
        0.14,
        NOVEL_NEEDS,
    ),
)
