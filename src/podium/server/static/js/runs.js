// The runs list (live) and the form that starts a run.
import { useEffect, useRef, useState } from "preact/hooks";
import { api, debounce, stream } from "./api.js";
import { Status, cost, duration, shortId, time, tokens } from "./format.js";
import { html } from "./html.js";

const STATUSES = ["running", "waiting", "succeeded", "failed", "cancelled", "interrupted"];
const REFRESH_MS = 5000;  // runs recorded by other processes (the CLI) are not streamed

// Call load() now, whenever `deps` change, when a run changes, and every few seconds.
export function useLive(load, deps = []) {
  const latest = useRef(load);
  latest.current = load;
  useEffect(() => {
    const call = () => latest.current();
    const stop = stream("/v1/updates", debounce(call, 250));
    const timer = setInterval(call, REFRESH_MS);
    return () => {
      stop();
      clearInterval(timer);
    };
  }, []);
  useEffect(() => { load(); }, deps);
}

export function RunsPage() {
  const [runs, setRuns] = useState(null);
  const [filter, setFilter] = useState({ status: "", q: "" });
  const [error, setError] = useState(null);
  const [showForm, setShowForm] = useState(false);
  const query = new URLSearchParams({ limit: "100" });
  if (filter.status) query.set("status", filter.status);
  if (filter.q) query.set("q", filter.q);
  const load = () => api(`/v1/runs?${query}`).then(setRuns, (e) => setError(e.message));
  useLive(load, [filter.status, filter.q]);
  return html`
    <section class="toolbar">
      <h1>Runs</h1>
      <select aria-label="status" value=${filter.status}
              onChange=${(e) => setFilter({ ...filter, status: e.target.value })}>
        <option value="">every status</option>
        ${STATUSES.map((s) => html`<option value=${s}>${s}</option>`)}
      </select>
      <input type="search" placeholder="goal, workflow or id" value=${filter.q}
             onInput=${(e) => setFilter({ ...filter, q: e.target.value })} />
      <button class="primary" onClick=${() => setShowForm(!showForm)}>New run</button>
    </section>
    ${showForm && html`<${StartForm} />`}
    ${error && html`<p class="error">${error}</p>`}
    ${runs === null ? html`<p class="muted">Loading…</p>` : html`<${RunsTable} runs=${runs} />`}`;
}

function RunsTable({ runs }) {
  if (!runs.length) return html`<p class="muted">No runs yet. Start one with “New run”, or <code>podium run</code>.</p>`;
  return html`
    <table class="runs">
      <thead><tr><th>run</th><th>goal / workflow</th><th>status</th><th>started</th>
        <th class="num">duration</th><th class="num">tasks ✓/✗</th><th class="num">tokens</th>
        <th class="num">cost</th></tr></thead>
      <tbody>${runs.map((r) => html`
        <tr data-run=${r.run_id}>
          <td><a href=${`#/runs/${r.run_id}`} class="mono">${shortId(r.run_id)}</a></td>
          <td class="goal">${r.goal || r.workflow}</td>
          <td><${Status} status=${r.status} /></td>
          <td>${time(r.started_at)}</td>
          <td class="num">${duration(r.duration_s)}</td>
          <td class="num">${r.tasks_succeeded}/${r.tasks_failed}</td>
          <td class="num">${tokens(r.tokens)}</td>
          <td class="num">${cost(r.cost)}</td>
        </tr>`)}</tbody>
    </table>`;
}

function budgetOf(form) {
  const budget = {};
  for (const [field, name] of [["max_tasks", "max_tasks"], ["max_model_calls", "max_calls"],
    ["max_tokens", "max_tokens"], ["max_cost", "max_cost"], ["max_wall_time", "max_time"]]) {
    const value = form.get(name);
    if (value) budget[field] = field === "max_wall_time" ? value : Number(value);
  }
  return Object.keys(budget).length ? budget : null;
}

function StartForm() {
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  async function submit(event) {
    event.preventDefault();
    const form = new FormData(event.target);
    const text = (form.get("inputs") || "").trim();
    let inputs = {};
    try {
      inputs = text ? JSON.parse(text) : {};
    } catch (e) {
      return setError(`inputs: not JSON (${e.message})`);
    }
    const body = {
      goal: form.get("goal") || null,
      workflow: form.get("workflow") || null,
      model: form.get("model") || null,
      docs: form.get("docs") || null,
      approve_plan: form.get("approve_plan") === "on",
      inputs,
      budget: budgetOf(form),
    };
    setBusy(true);
    try {
      const started = await api("/v1/runs", { method: "POST", body });
      location.hash = `#/runs/${started.run_id}`;
    } catch (problem) {
      setError(problem.message);
    } finally {
      setBusy(false);
    }
  }
  return html`
    <form class="card start" onSubmit=${submit}>
      <label>Goal <input name="goal" placeholder="Compare e-bike makers in Vietnam" /></label>
      <label>or workflow file <input name="workflow" placeholder="examples/support_triage.yaml (on the server)" /></label>
      <div class="row">
        <label>Model <input name="model" list="models" placeholder="the team's own" /></label>
        <label>Documents <input name="docs" placeholder="examples/docs" /></label>
        <label class="check"><input type="checkbox" name="approve_plan" /> approve the plan first</label>
      </div>
      <label>Inputs (JSON) <textarea name="inputs" rows="2" placeholder='{"ticket": "..."}'></textarea></label>
      <div class="row budget">
        <label>max tasks <input name="max_tasks" type="number" min="0" /></label>
        <label>max calls <input name="max_calls" type="number" min="0" /></label>
        <label>max tokens <input name="max_tokens" type="number" min="0" /></label>
        <label>max cost $ <input name="max_cost" type="number" min="0" step="0.01" /></label>
        <label>max time <input name="max_time" placeholder="5m" /></label>
      </div>
      <datalist id="models"><option value="scripted" /><option value="local" /></datalist>
      <button class="primary" type="submit" disabled=${busy}>Start</button>
      ${error && html`<pre class="error">${error}</pre>`}
    </form>`;
}
