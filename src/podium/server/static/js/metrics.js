// Metrics: the seed's table (completion, latency per step, error rate, hallucination rate,
// satisfaction, cost per workflow) per workflow, agent or model; charts over time and by
// group; and what the learning router prefers now.
import { useEffect, useRef, useState } from "preact/hooks";
import { api } from "./api.js";
import { cost, duration, num, pct, time, tokens } from "./format.js";
import { html } from "./html.js";

const WINDOWS = { "24h": 24, "7d": 7, "30d": 30 };
const COLORS = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#4b5563"];

function Chart({ config, label }) {
  const canvas = useRef(null);
  useEffect(() => {
    const chart = new window.Chart(canvas.current, {
      ...config,
      options: { animation: false, responsive: true, maintainAspectRatio: false, ...config.options },
    });
    return () => chart.destroy();
  }, [JSON.stringify(config)]);
  return html`<figure class="chart card"><figcaption>${label}</figcaption>
    <div class="chart-box"><canvas ref=${canvas} data-chart=${label}></canvas></div></figure>`;
}

function summary(report) {
  const all = report.overall.current;
  return `${all.runs} runs started since ${time(report.window.start)}: ${all.finished} finished, `
    + `${all.in_progress} in progress, ${all.feedback_count} ratings.`;
}

function bucketLabel(point) {
  const start = new Date(point.start);
  const hours = (new Date(point.end) - start) / 3600000;
  const options = hours >= 24 ? { month: "short", day: "numeric" } : { hour: "2-digit", minute: "2-digit" };
  return start.toLocaleString(undefined, options);
}

function seriesChart(points, label, pick, format) {
  return {
    type: "line",
    data: {
      labels: points.map(bucketLabel),
      datasets: pick.map(([name, field], i) => ({
        label: name,
        data: points.map((p) => p.overall[field]),
        borderColor: COLORS[i],
        backgroundColor: COLORS[i],
        spanGaps: true,
      })),
    },
    options: { scales: { y: { beginAtZero: true, ticks: { callback: format } } } },
  };
}

function groupChart(groups, pick) {
  return {
    type: "bar",
    data: {
      labels: groups.map((g) => g.group),
      datasets: pick.map(([name, field], i) => ({
        label: name,
        data: groups.map((g) => g.current[field]),
        backgroundColor: COLORS[i],
      })),
    },
    options: { scales: { y: { beginAtZero: true } } },
  };
}

const COLUMNS = [
  ["completion", "completion_rate", pct], ["errors", "error_rate", pct],
  ["task p50", "task_p50_s", duration], ["task p95", "task_p95_s", duration],
  ["call p50", "call_p50_s", duration], ["call p95", "call_p95_s", duration],
  ["hallucination", "hallucination_rate", pct], ["satisfaction", "satisfaction", (x) => num(x)],
  ["cost / run", "cost_mean", cost], ["cost", "cost_total", cost], ["tokens", "tokens_total", tokens],
];

function MetricsTable({ report }) {
  const rows = [report.overall, ...report.groups];
  return html`<table class="metrics">
    <thead><tr><th>${report.by}</th><th class="num">runs</th>${COLUMNS.map(([name]) => html`<th class="num">${name}</th>`)}</tr></thead>
    <tbody>${rows.map((g) => html`<tr data-group=${g.group}>
      <td>${g.group}</td><td class="num">${g.current.runs}${g.current.in_progress ? ` (${g.current.in_progress}▶)` : ""}</td>
      ${COLUMNS.map(([, field, format]) => html`<td class="num">${format(g.current[field])}</td>`)}</tr>`)}</tbody></table>`;
}

function Routing({ preferences }) {
  if (!preferences.length) return html`<p class="muted">The router has not learned anything yet (no capability-routed tasks in the window).</p>`;
  return html`<table class="routing">
    <thead><tr><th>capability</th><th>agent</th><th class="num">runs</th><th class="num">success</th>
      <th class="num">latency</th><th class="num">cost / run</th><th class="num">satisfaction</th><th class="num">share</th><th>why</th></tr></thead>
    <tbody>${preferences.map((p) => html`<tr><td>${p.capability}</td><td>${p.agent}</td><td class="num">${p.runs}</td>
      <td class="num">${pct(p.success_rate)}</td><td class="num">${duration(p.mean_latency_s)}</td>
      <td class="num">${cost(p.mean_cost)}</td><td class="num">${num(p.satisfaction)}</td>
      <td class="num">${pct(p.expected_share)}</td><td class="small">${p.reason}</td></tr>`)}</tbody></table>`;
}

export function MetricsPage() {
  const [span, setSpan] = useState("7d");
  const [by, setBy] = useState("agent");
  const [data, setData] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    const buckets = WINDOWS[span];
    Promise.all([
      api(`/v1/metrics?window=${span}&by=${by}`),
      api(`/v1/metrics/series?window=${span}&buckets=${buckets}&by=${by}`),
      api(`/v1/metrics/routing`),
    ]).then(([report, series, routing]) => setData({ report, series, routing }), (e) => setError(e.message));
  }, [span, by]);
  if (error) return html`<p class="error">${error}</p>`;
  return html`
    <section class="toolbar">
      <h1>Metrics</h1>
      <select aria-label="window" value=${span} onChange=${(e) => setSpan(e.target.value)}>
        ${Object.keys(WINDOWS).map((w) => html`<option value=${w}>last ${w}</option>`)}</select>
      <select aria-label="group by" value=${by} onChange=${(e) => setBy(e.target.value)}>
        ${["workflow", "agent", "model"].map((b) => html`<option value=${b}>by ${b}</option>`)}</select>
    </section>
    ${data === null ? html`<p class="muted">Loading…</p>` : html`
      <p class="muted">${summary(data.report)}</p>
      <${MetricsTable} report=${data.report} />
      <div class="charts">
        <${Chart} label="rates over time" config=${seriesChart(data.series, "rates",
          [["completion", "completion_rate"], ["errors", "error_rate"], ["hallucination", "hallucination_rate"]],
          (v) => `${Math.round(v * 100)}%`)} />
        <${Chart} label="task latency over time" config=${seriesChart(data.series, "latency",
          [["p50", "task_p50_s"], ["p95", "task_p95_s"]], (v) => `${v}s`)} />
        <${Chart} label="cost over time" config=${seriesChart(data.series, "cost",
          [["cost", "cost_total"]], (v) => `$${v}`)} />
        <${Chart} label=${`latency by ${by}`} config=${groupChart(data.report.groups,
          [["task p50 (s)", "task_p50_s"], ["task p95 (s)", "task_p95_s"]])} />
        <${Chart} label=${`errors and hallucinations by ${by}`} config=${groupChart(data.report.groups,
          [["error rate", "error_rate"], ["hallucination rate", "hallucination_rate"]])} />
      </div>
      <h2>What the router learned</h2>
      <${Routing} preferences=${data.routing} />`}`;
}
