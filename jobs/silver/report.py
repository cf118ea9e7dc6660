"""`tracelake report`: one self-contained HTML page on component lineage and workflow patterns.

Reads the silver tables with delta-rs (no Spark), writes `<lake_root>/ops/reports/lineage.html`
(local disk or S3) and returns its location. The page works offline: its data is embedded as
JSON and drawn into inline SVG by inline JavaScript; nothing is fetched.
"""

from __future__ import annotations

import html
import json
from collections import defaultdict
from datetime import datetime
from typing import Any

import pyarrow.compute as pc

from ..context import JobContext
from ..curate.verdicts import summary as curation_summary
from ..errors import TracelakeError
from ..lake import catalog
from ..lake.store import pyarrow_filesystem
from ._version_stats import drop_cycles

REPORT_PATH = "ops/reports/lineage.html"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def collect(ctx: JobContext) -> dict[str, Any]:
    """Everything the page shows, as plain JSON-able data."""
    lake = ctx.lake
    if lake.version(catalog.SILVER_COMPONENT_USAGE) is None:
        raise TracelakeError(
            "no lineage tables yet under "
            f"{lake.uri(catalog.SILVER_COMPONENT_USAGE)}; run `tracelake build` first"
        )
    usage = lake.read(
        catalog.SILVER_COMPONENT_USAGE,
        columns=[
            "run_id",
            "component",
            "version",
            "synthetic",
            "calls",
            "errors",
            "latency_n",
            "latency_sum_ms",
            "parent_version",
            "backwards_uses",
        ],
    )
    per_version: dict[tuple[str, str], dict[str, float]] = defaultdict(
        lambda: {"calls": 0, "errors": 0, "latency_n": 0, "latency_sum": 0.0}
    )
    declared: dict[tuple[str, str], str] = {}
    for r in usage.filter(pc.invert(usage["synthetic"])).to_pylist():
        v = per_version[(r["component"], r["version"])]
        v["calls"] += r["calls"]
        v["errors"] += r["errors"]
        v["latency_n"] += r["latency_n"]
        v["latency_sum"] += r["latency_sum_ms"]
        if r["parent_version"] and r["parent_version"] != r["version"]:
            declared.setdefault((r["component"], r["version"]), r["parent_version"])
    _, cycles = drop_cycles(declared)
    components = lake.read(catalog.SILVER_COMPONENTS).to_pylist()
    timelines: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for c in components:
        v = per_version.get((c["component"], c["version"]))
        timelines[c["component"]].append(
            {
                "version": c["version"],
                "first_seen": _iso(c["first_seen"]),
                "last_seen": _iso(c["last_seen"]),
                "runs": c["runs"],
                "calls": c["calls"],
                "error_rate": v["errors"] / v["calls"] if v and v["calls"] else None,
                "latency_ms": v["latency_sum"] / v["latency_n"] if v and v["latency_n"] else None,
                "change_note": c["change_note"],
            }
        )
    multi = {k: sorted(vs, key=lambda x: x["first_seen"] or "") for k, vs in timelines.items()}
    evolution = [
        {
            k: r[k]
            for k in (
                "component",
                "from_version",
                "to_version",
                "population",
                "link",
                "from_calls",
                "to_calls",
                "from_error_rate",
                "to_error_rate",
                "error_rate_delta",
                "error_rate_delta_low",
                "error_rate_delta_high",
                "verdict",
                "verdict_reason",
                "change_note",
            )
        }
        for r in lake.read(catalog.SILVER_COMPONENT_EVOLUTION).to_pylist()
    ]
    patterns = sorted(
        lake.read(catalog.SILVER_PATTERNS).to_pylist(), key=lambda p: (-p["support"], p["name"])
    )
    run_patterns = lake.read(
        catalog.SILVER_RUN_PATTERNS, columns=["status", "unknown_steps", "synthetic"]
    ).to_pylist()
    unresolved = [
        {
            "component": c["component"],
            "version": c["version"],
            "aliases": [f"{a['alias']} ({a['dialect']})" for a in c["aliases"]],
            "runs": c["runs"] + c["synthetic_runs"],
        }
        for c in components
        if not c["resolved"]
    ]
    bad_input = {
        "unresolved component versions": len(unresolved),
        "definition conflicts (merge refused)": sum(c["definition_conflict"] for c in components),
        "uses after a newer version in the same run": sum(c["backwards_uses"] for c in components),
        "runs using a version before it was created": sum(
            c["used_before_declared"] for c in components
        ),
        "cycles in declared parent versions (links dropped)": cycles,
        "runs without steps": sum(r["status"] == "no_steps" for r in run_patterns),
        "runs matching no pattern": sum(r["status"] == "no_pattern" for r in run_patterns),
        "steps with the unknown role": sum(r["unknown_steps"] for r in run_patterns),
        "synthetic runs (reported apart, never mined)": sum(r["synthetic"] for r in run_patterns),
    }
    return {
        "lake": lake.uri(catalog.SILVER_COMPONENTS).rsplit("/silver/", 1)[0],
        "timelines": [{"component": k, "versions": v} for k, v in sorted(multi.items())],
        "evolution": evolution,
        "patterns": [
            {
                k: p[k]
                for k in (
                    "name",
                    "support",
                    "n_runs",
                    "assigned_runs",
                    "success_rate",
                    "success_low",
                    "success_high",
                    "mean_steps",
                    "maximal",
                    "scenarios",
                )
            }
            for p in patterns[:15]
        ],
        "unresolved": unresolved,
        "bad_input": bad_input,
        "curation": curation_summary(lake),
    }


def render(data: dict[str, Any]) -> str:
    payload = json.dumps(data, default=str).replace("</", "<\\/")
    rows = "".join(
        f"<tr><td>{html.escape(k)}</td><td class=n>{v}</td></tr>"
        for k, v in data["bad_input"].items()
    )
    curation = (
        "".join(
            f"<tr><td>{html.escape(k)}</td><td class=n>{v}</td></tr>"
            for k, v in data.get("curation", {}).items()
        )
        or "<tr><td>not curated yet (run tracelake build)</td></tr>"
    )
    return (
        PAGE.replace("__DATA__", payload)
        .replace("__BAD_INPUT__", rows)
        .replace("__CURATION__", curation)
        .replace("__LAKE__", html.escape(data["lake"]))
    )


def write_report(ctx: JobContext) -> str:
    """Write the page under the lake's ops area; returns where it is."""
    text = render(collect(ctx))
    root = ctx.settings.lake_root.rstrip("/")
    uri = f"{root}/{REPORT_PATH}"
    fs, path = pyarrow_filesystem(uri, ctx.settings.storage_options_for(uri))
    fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
    with fs.open_output_stream(path) as out:
        out.write(text.encode())
    return uri


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>tracelake: component lineage and workflow patterns</title>
<style>
body{font:14px system-ui,sans-serif;margin:24px;color:#222;max-width:1100px}
h1{font-size:20px}h2{font-size:16px;margin-top:28px}
table{border-collapse:collapse;margin:8px 0}td,th{border-bottom:1px solid #ddd;padding:3px 8px;
text-align:left;vertical-align:top}td.n{text-align:right}
.improved{color:#17733a;font-weight:600}.regressed{color:#b3261e;font-weight:600}
.no-evidence{color:#777}svg{display:block;margin:6px 0}small{color:#666}
</style></head><body>
<h1>Component lineage and workflow patterns</h1>
<p><small>Lake: __LAKE__. Statistics are over real runs; synthetic runs are reported
apart.</small></p>
<h2>Component versions: error rate and mean latency per version</h2>
<div id="timelines"></div>
<h2>Evolution verdicts</h2>
<table id="evolution"><thead><tr><th>component</th><th>from &rarr; to</th><th>runs</th>
<th>calls</th><th>error rate</th><th>&Delta; (interval)</th><th>verdict</th><th>why</th>
</tr></thead><tbody></tbody></table>
<h2>Top workflow patterns: support and success rate</h2>
<svg id="patterns-chart" width="1000" height="40"></svg>
<h2>Unresolved component names</h2>
<table id="unresolved"><thead><tr><th>component</th><th>version</th><th>names seen</th>
<th>runs</th></tr></thead><tbody></tbody></table>
<h2>Bad input, handled and counted</h2>
<table id="bad-input"><tbody>__BAD_INPUT__</tbody></table>
<h2>Curation: examples by rule (latest verdicts), contaminated examples by task</h2>
<table id="curation"><tbody>__CURATION__</tbody></table>
<script id="data" type="application/json">__DATA__</script>
<script>
"use strict";
const D = JSON.parse(document.getElementById("data").textContent);
const NS = "http://www.w3.org/2000/svg";
function el(tag, attrs, text) {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}
function pct(x) { return x === null || x === undefined ? "-" : (100 * x).toFixed(1) + "%"; }
function cell(tr, text, cls) {
  const td = document.createElement("td"); td.textContent = text;
  if (cls) td.className = cls; tr.appendChild(td);
}
// One chart per component: a bar per version for its error rate, a dot for its latency.
const box = document.getElementById("timelines");
for (const t of D.timelines) {
  const h = 150, w = 120 + 110 * t.versions.length;
  const svg = el("svg", {width: w, height: h, "class": "timeline", "data-component": t.component});
  svg.appendChild(el("text", {x: 4, y: 14, "font-weight": 600}, t.component));
  const maxErr = Math.max(0.01, ...t.versions.map(v => v.error_rate || 0));
  const maxLat = Math.max(1, ...t.versions.map(v => v.latency_ms || 0));
  let drawn = 0;
  t.versions.forEach((v, i) => {
    const x = 120 + i * 110, base = 120;
    const bh = 90 * (v.error_rate || 0) / maxErr;
    const bar = el("rect", {x: x, y: base - bh, width: 40, height: Math.max(bh, 1),
      fill: "#d9534f", "class": "bar"});
    bar.appendChild(el("title", {}, `${t.component} ${v.version}: error rate ${pct(v.error_rate)}`
      + `, ${v.calls} calls, ${v.runs} runs` + (v.change_note ? `; ${v.change_note}` : "")));
    svg.appendChild(bar); drawn++;
    if (v.latency_ms !== null) {
      svg.appendChild(el("circle", {cx: x + 70, cy: base - 90 * v.latency_ms / maxLat, r: 4,
        fill: "#2b6cb0", "class": "latency"}));
    }
    svg.appendChild(el("text", {x: x, y: base + 14, "font-size": 11}, v.version));
    svg.appendChild(el("text", {x: x, y: base + 27, "font-size": 10, fill: "#666"},
      `${pct(v.error_rate)} err` + (v.latency_ms ? `, ${Math.round(v.latency_ms)} ms` : "")));
    if (i > 0) svg.appendChild(el("line", {x1: x - 65, y1: base + 5, x2: x - 5, y2: base + 5,
      stroke: "#999", "marker-end": ""}));
  });
  svg.appendChild(el("text", {x: 4, y: 40, "font-size": 10, fill: "#d9534f"}, "bars: error rate"));
  svg.appendChild(el("text", {x: 4, y: 54, "font-size": 10, fill: "#2b6cb0"}, "dots: latency"));
  svg.setAttribute("data-drawn", drawn);
  box.appendChild(svg);
}
const evo = document.querySelector("#evolution tbody");
for (const r of D.evolution) {
  const tr = document.createElement("tr");
  cell(tr, r.component + (r.population === "synthetic" ? " (synthetic)" : ""));
  cell(tr, `${r.from_version} \u2192 ${r.to_version} (${r.link})`);
  cell(tr, ""); cell(tr, `${r.from_calls} \u2192 ${r.to_calls}`, "n");
  cell(tr, `${pct(r.from_error_rate)} \u2192 ${pct(r.to_error_rate)}`, "n");
  cell(tr, r.error_rate_delta === null ? "-" : `${pct(r.error_rate_delta)} `
    + `(${pct(r.error_rate_delta_low)} .. ${pct(r.error_rate_delta_high)})`, "n");
  cell(tr, r.verdict, r.verdict.replace(" ", "-"));
  cell(tr, r.verdict_reason + (r.change_note ? `; change: ${r.change_note}` : ""));
  tr.children[2].remove();
  evo.appendChild(tr);
}
// Patterns: support bar (grey) and success rate bar (green) with its interval.
const pc = document.getElementById("patterns-chart");
const rowH = 26, left = 420;
pc.setAttribute("height", 30 + rowH * D.patterns.length);
pc.appendChild(el("text", {x: left, y: 14, "font-size": 11},
  "support (grey), success rate with interval (green)"));
let bars = 0;
D.patterns.forEach((p, i) => {
  const y = 24 + i * rowH;
  const label = p.name.length > 62 ? p.name.slice(0, 60) + "\u2026" : p.name;
  pc.appendChild(el("text", {x: 0, y: y + 12, "font-size": 11}, label));
  pc.appendChild(el("rect", {x: left, y: y, width: 250 * p.support, height: 8,
    fill: "#999", "class": "bar"}));
  pc.appendChild(el("rect", {x: left, y: y + 10, width: 250 * (p.success_rate || 0),
    height: 8, fill: "#38a169", "class": "bar"}));
  if (p.success_low !== null) {
    pc.appendChild(el("line", {x1: left + 250 * p.success_low, x2: left + 250 * p.success_high,
      y1: y + 14, y2: y + 14, stroke: "#1c4532"}));
  }
  pc.appendChild(el("text", {x: left + 260, y: y + 12, "font-size": 10},
    `${pct(p.support)} of runs, ${p.n_runs} runs, success ${pct(p.success_rate)}`));
  bars += 2;
});
pc.setAttribute("data-drawn", bars);
const un = document.querySelector("#unresolved tbody");
for (const u of D.unresolved) {
  const tr = document.createElement("tr");
  cell(tr, u.component); cell(tr, u.version); cell(tr, u.aliases.join(", ")); cell(tr, u.runs, "n");
  un.appendChild(tr);
}
document.body.setAttribute("data-report-ready", "1");
</script></body></html>
"""
