"""The evaluation report: one offline HTML page (data embedded as JSON, drawn into inline SVG by
inline JavaScript, nothing fetched): per level, one bar chart per metric; then every metric of
this evaluation against earlier ones from ops.eval_results."""

from __future__ import annotations

import html
import json
from typing import Any

from ..context import JobContext
from ..lake.store import pyarrow_filesystem
from .runner import EvalRun

REPORT_DIR = "ops/reports"
CHART_METRICS = (
    "completion", "pass^1", "validity", "first_component", "call_ratio", "cost_ratio",
    "wrong_component_rate",
    "redundant_call_rate", "self_correction", "constraint_adherence", "creation",
    "change_completion", "als",
)  # fmt: skip


def page_data(run: EvalRun, earlier: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "eval_id": run.eval_id,
        "policy": run.policy,
        "checkpoint": run.checkpoint,
        "options": run.options,
        "summary": run.summary,
        "metrics": list(CHART_METRICS),
        "earlier": [
            {
                "eval_id": r["eval_id"],
                "label": f"{r['policy']} {r['prompt']} {r['started_at'][:16]}",
                "level": r["level"],
                "metrics": {m: r["metrics"].get(m) for m in CHART_METRICS},
            }
            for r in earlier
        ],
    }


def render(data: dict[str, Any]) -> str:
    payload = json.dumps(data, default=str).replace("</", "<\\/")
    title = html.escape(f"{data['policy']} ({data['checkpoint']})")
    return PAGE.replace("__DATA__", payload).replace("__TITLE__", title)


def write_report(ctx: JobContext, run: EvalRun, earlier: list[dict[str, Any]]) -> str:
    root = ctx.settings.lake_root.rstrip("/")
    uri = f"{root}/{REPORT_DIR}/eval-{run.eval_id.removeprefix('eval-')}.html"
    fs, path = pyarrow_filesystem(uri, ctx.settings.storage_options_for(uri))
    fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
    with fs.open_output_stream(path) as out:
        out.write(render(page_data(run, earlier)).encode())
    return uri


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>tracelake evaluation: __TITLE__</title>
<style>
body{font:14px system-ui,sans-serif;margin:24px;color:#222;max-width:1100px}
h1{font-size:20px}h2{font-size:16px;margin-top:28px}h3{font-size:14px;margin:10px 0 2px}
.grid{display:flex;flex-wrap:wrap;gap:14px}.card{border:1px solid #ddd;padding:6px 10px}
svg{display:block}small{color:#666}text{font-size:11px}
table{border-collapse:collapse}td,th{border-bottom:1px solid #ddd;padding:3px 8px;text-align:right}
td:first-child,th:first-child{text-align:left}
</style></head><body>
<h1>Workflow benchmark: __TITLE__</h1>
<p><small id="meta"></small></p>
<h2>Per level</h2>
<div id="levels" class="grid"></div>
<h2>Against earlier evaluations (all levels)</h2>
<div id="compare" class="grid"></div>
<h2>All metrics</h2>
<table id="table"></table>
<script>
const D = __DATA__;
const NS = "http://www.w3.org/2000/svg";
function el(tag, attrs, parent, text) {
  const e = document.createElementNS(NS, tag);
  for (const k in attrs) e.setAttribute(k, attrs[k]);
  if (text !== undefined) e.textContent = text;
  if (parent) parent.appendChild(e);
  return e;
}
function fmt(v) { return v === null || v === undefined ? "n/a" : (+v).toFixed(3); }
function bars(parent, title, items, cls) {
  const card = document.createElement("div"); card.className = "card";
  const h = document.createElement("h3"); h.textContent = title; card.appendChild(h);
  const w = 260, bh = 18, svg = el("svg", {width: w, height: items.length * (bh + 4) + 4,
    class: cls}, card);
  const max = Math.max(1, ...items.map(i => i.value || 0));
  let drawn = 0;
  items.forEach((it, i) => {
    const y = 2 + i * (bh + 4);
    el("text", {x: 0, y: y + 13}, svg, it.label);
    if (it.value !== null && it.value !== undefined) {
      el("rect", {class: "bar", x: 70, y: y, height: bh, width: Math.max(1, 150 * it.value / max),
        fill: it.current ? "#2f6fb3" : "#9bb6d3"}, svg);
      drawn++;
    }
    el("text", {x: 225, y: y + 13}, svg, fmt(it.value));
  });
  svg.setAttribute("data-drawn", String(drawn));
  parent.appendChild(card);
}
document.getElementById("meta").textContent = D.eval_id + " | options " +
  JSON.stringify(D.options);
const levels = Object.keys(D.summary).filter(k => k !== "all");
D.metrics.forEach(m => bars(document.getElementById("levels"), m,
  levels.map(l => ({label: l, value: D.summary[l][m], current: true})), "level-chart"));
const runs = D.earlier.filter(r => r.level === 0 && r.eval_id !== D.eval_id).slice(-8);
D.metrics.forEach(m => bars(document.getElementById("compare"), m,
  runs.map(r => ({label: r.label.slice(0, 10), value: r.metrics[m], current: false}))
    .concat([{label: "this run", value: D.summary.all[m], current: true}]), "compare-chart"));
const t = document.getElementById("table");
const scopes = Object.keys(D.summary);
t.innerHTML = "<tr><th>metric</th>" + scopes.map(s => "<th>" + s + "</th>").join("") + "</tr>";
Object.keys(D.summary.all).forEach(m => {
  const tr = document.createElement("tr");
  tr.innerHTML = "<td></td>" + scopes.map(s => "<td>" + fmt(D.summary[s][m]) + "</td>").join("");
  tr.firstChild.textContent = m;
  t.appendChild(tr);
});
document.body.setAttribute("data-report-ready", "1");
</script>
</body></html>
"""
