// One run: its header and actions, what waits for approval, and tabs for the task graph,
// the timeline, the context with provenance, the plan, the claims, the output and the log.
// The page follows the run's event stream and reloads the run's state as events arrive.
import { useEffect, useState } from "preact/hooks";
import { api, debounce, stream } from "./api.js";
import { ApprovalCard } from "./approvals.js";
import { Status, cost, duration, pct, pretty, preview, time, tokens } from "./format.js";
import { TaskGraph } from "./graph.js";
import { html } from "./html.js";
import { Timeline } from "./timeline.js";

const TABS = ["graph", "timeline", "context", "plan", "claims", "output", "log"];

export function RunPage({ id }) {
  const [run, setRun] = useState(null);
  const [events, setEvents] = useState([]);
  const [error, setError] = useState(null);
  const [tab, setTab] = useState("graph");
  const [selected, setSelected] = useState(null);

  useEffect(() => {
    let stop = () => {};
    const load = () => api(`/v1/runs/${encodeURIComponent(id)}`).then(setRun, (e) => setError(e.message));
    api(`/v1/runs/${encodeURIComponent(id)}`).then((first) => {
      setRun(first);
      const reload = debounce(load, 150);
      stop = stream(`/v1/runs/${encodeURIComponent(first.run_id)}/events/stream`, (message) => {
        const event = JSON.parse(message.data);
        setEvents((seen) => (seen.length && seen[seen.length - 1].seq >= event.seq ? seen : [...seen, event]));
        reload();
      });
    }, (e) => setError(e.message));
    return () => stop();
  }, [id]);

  if (error) return html`<p class="error">${error}</p>`;
  if (!run) return html`<p class="muted">Loading…</p>`;
  return html`
    <${RunHeader} run=${run} />
    ${run.approvals.length > 0 && html`
      <section class="waiting"><h2>Waiting for you</h2>
        ${run.approvals.map((r) => html`<${ApprovalCard} key=${`${r.task_id} ${r.seq}`}
          request=${{ ...r, asked_at: r.at }} />`)}
      </section>`}
    <nav class="tabs">${TABS.map((name) => html`
      <button class=${tab === name ? "active" : ""} data-tab=${name} onClick=${() => setTab(name)}>${name}</button>`)}
    </nav>
    <section class="tab">${{
      graph: () => html`<div class="scroll"><${TaskGraph} run=${run} selected=${selected} onSelect=${setSelected} /></div>
        ${selected && html`<${TaskDetail} run=${run} taskId=${selected} />`}`,
      timeline: () => html`<div class="scroll"><${Timeline} run=${run} /></div>`,
      context: () => html`<${ContextView} run=${run} />`,
      plan: () => html`<${PlanView} run=${run} />`,
      claims: () => html`<${ClaimsView} run=${run} />`,
      output: () => html`<pre class="output">${run.output === null ? "(no output yet)" : pretty(run.output)}</pre>
        ${run.error && html`<pre class="error">${run.error}</pre>`}`,
      log: () => html`<${EventLog} events=${events} />`,
    }[tab]()}</section>
    <${Feedback} run=${run} />`;
}

function RunHeader({ run }) {
  const [message, setMessage] = useState(null);
  async function act(verb) {
    try {
      await api(`/v1/runs/${run.run_id}/${verb}`, { method: "POST" });
      setMessage(verb === "cancel" ? "cancelling…" : "resumed");
    } catch (problem) {
      setMessage(problem.message);
    }
  }
  const canCancel = ["running", "waiting", "interrupted"].includes(run.status);
  const canResume = ["interrupted", "cancelled", "failed"].includes(run.status);
  return html`
    <section class="run-head card">
      <div class="row">
        <h1 class="grow">${run.goal || run.workflow}</h1>
        <${Status} status=${run.status} />
        ${canCancel && html`<button onClick=${() => act("cancel")}>Cancel</button>`}
        ${canResume && html`<button class="primary" onClick=${() => act("resume")}>Resume</button>`}
      </div>
      <dl class="facts">
        <div><dt>run</dt><dd class="mono">${run.run_id}</dd></div>
        <div><dt>workflow</dt><dd>${run.workflow}</dd></div>
        <div><dt>started</dt><dd>${time(run.started_at)}</dd></div>
        <div><dt>duration</dt><dd>${duration(run.duration_s)}</dd></div>
        <div><dt>tasks ✓/✗</dt><dd>${run.tasks_succeeded}/${run.tasks_failed} of ${run.tasks.length}</dd></div>
        <div><dt>tokens</dt><dd>${tokens(run.tokens)}</dd></div>
        <div><dt>cost</dt><dd>${cost(run.cost)}</dd></div>
        <div><dt>hallucination</dt><dd>${pct(run.hallucination_rate)}</dd></div>
      </dl>
      ${run.error && html`<p class="error">${run.error}</p>`}
      ${message && html`<p class="muted">${message}</p>`}
    </section>`;
}

function TaskDetail({ run, taskId }) {
  const task = run.tasks.find((t) => t.id === taskId);
  if (!task) return null;
  const calls = run.calls.filter((c) => c.task_id === taskId);
  return html`
    <section class="card task-detail" data-task=${taskId}>
      <h3 class="mono">${task.id} <${Status} status=${task.status} /></h3>
      <p class="muted">${task.agent || "engine"} · ${task.attempts} attempt(s) · ${duration(task.duration_s)} ·
        ${task.model_calls} model / ${task.tool_calls} tool calls · ${tokens(task.tokens)} tokens · ${cost(task.cost)}</p>
      ${task.error && html`<pre class="error">${task.error}</pre>`}
      ${task.output !== null && html`<pre class="output">${pretty(task.output)}</pre>`}
      ${calls.length > 0 && html`<table><thead><tr><th>call</th><th>at</th><th class="num">latency</th><th>detail</th></tr></thead>
        <tbody>${calls.map((c) => html`<tr><td>${c.kind === "model_called" ? c.model : `tool ${c.tool}`}</td>
          <td>${time(c.at)}</td><td class="num">${duration(c.latency_s)}</td>
          <td class="small">${c.kind === "model_called" ? `${c.input_tokens}+${c.output_tokens} tokens, ${cost(c.cost)}` : c.error || preview(c.result, 80)}</td></tr>`)}</tbody></table>`}
    </section>`;
}

function ContextView({ run }) {
  if (!run.writes.length) return html`<p class="muted">Nothing written to the context yet.</p>`;
  const keys = [...new Set(run.writes.map((w) => w.key))];
  return html`<table class="context">
    <thead><tr><th>key</th><th>version</th><th>written by</th><th>when</th><th>value</th></tr></thead>
    <tbody>${keys.map((key) => run.writes.filter((w) => w.key === key).map((w, i, all) => html`
      <tr data-key=${key} class=${i === all.length - 1 ? "latest" : "older"}>
        <td class="mono">${i === 0 ? key : ""}</td><td class="num">v${w.version}</td>
        <td>${w.task_id ? `${w.agent || "engine"} · ${w.task_id}` : "input"}</td>
        <td>${time(w.at)}</td>
        <td><details><summary>${preview(w.value, 90)}</summary><pre>${pretty(w.value)}</pre></details></td>
      </tr>`))}</tbody></table>`;
}

function PlanView({ run }) {
  if (!run.plans.length) return html`<p class="muted">This run has no plan (a hand-written workflow).</p>`;
  return run.plans.map((plan) => html`
    <section class="card plan" data-revision=${plan.revision}>
      <h3>${plan.task_id} · revision ${plan.revision} ${plan.created_at ? "" : html`<span class="status status-failed">not accepted</span>`}</h3>
      ${plan.reason && html`<p>${plan.reason}</p>`}
      <table><thead><tr><th>step</th><th>agent</th><th>needs</th></tr></thead>
        <tbody>${plan.steps.map((s) => html`<tr><td class="mono">${s.id}${plan.kept.includes(s.id) ? " (kept)" : ""}</td>
          <td>${s.agent || ""}</td><td class="mono">${s.needs.join(", ")}</td></tr>`)}</tbody></table>
      ${plan.repairs.length > 0 && html`<p class="small">repaired: ${plan.repairs.join("; ")}</p>`}
      ${plan.rejections.map((problems, i) => html`<p class="small error">answer ${i + 1} sent back: ${problems.join("; ")}</p>`)}
    </section>`);
}

function ClaimsView({ run }) {
  if (!run.claims.length) return html`<p class="muted">No claim was verified in this run.</p>`;
  return html`<table class="claims">
    <thead><tr><th>claim</th><th>verdict</th><th>evidence</th><th>cited passages</th></tr></thead>
    <tbody>${run.claims.map((c) => html`<tr data-verdict=${c.verdict}>
      <td>${c.claim}</td><td><span class=${`status verdict-${c.verdict}`}>${c.verdict}</span></td>
      <td class="small">${c.evidence}</td>
      <td class="small">${c.sources.map((id) => html`<details><summary class="mono">${id}</summary>
        <p>${preview((run.sources[id] || {}).text || run.sources[id], 600)}</p></details>`)}</td></tr>`)}</tbody></table>`;
}

function EventLog({ events }) {
  return html`<table class="log"><thead><tr><th class="num">seq</th><th>at</th><th>event</th><th>task</th><th>detail</th></tr></thead>
    <tbody>${events.slice(-400).reverse().map((e) => html`<tr data-seq=${e.seq}>
      <td class="num">${e.seq}</td><td>${time(e.at)}</td><td class="mono">${e.kind}</td>
      <td class="mono">${e.task_id || ""}</td><td class="small">${preview(e.error || e.message || e.reason || e.output || e.value || "", 100)}</td></tr>`)}</tbody></table>`;
}

function Feedback({ run }) {
  const [score, setScore] = useState(0);
  const [comment, setComment] = useState("");
  const [message, setMessage] = useState(null);
  const given = run.feedback.filter((f) => !f.task_id);
  async function send(event) {
    event.preventDefault();
    try {
      await api(`/v1/runs/${run.run_id}/feedback`, { method: "POST", body: { score, comment, by: "dashboard" } });
      setMessage("thank you: recorded");
    } catch (problem) {
      setMessage(problem.message);
    }
  }
  return html`
    <form class="card feedback" onSubmit=${send}>
      <strong>Rate this run</strong>
      ${[1, 2, 3, 4, 5].map((n) => html`<button type="button" class=${`star ${n <= score ? "on" : ""}`}
        aria-label=${`${n} of 5`} onClick=${() => setScore(n)}>★</button>`)}
      <input class="grow" placeholder="why (optional)" value=${comment} onInput=${(e) => setComment(e.target.value)} />
      <button type="submit" disabled=${!score}>Send</button>
      ${message && html`<span class="muted">${message}</span>`}
      ${given.length > 0 && html`<span class="muted small">rated ${given.map((f) => f.score).join(", ")} so far</span>`}
    </form>`;
}
