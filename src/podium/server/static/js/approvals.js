// The approvals queue: every task waiting for a person, across runs. Approve (as proposed or
// edited), deny with a reason, or select several and approve them in one batch.
import { useState } from "preact/hooks";
import { api } from "./api.js";
import { pretty, shortId, time } from "./format.js";
import { html } from "./html.js";
import { useLive } from "./runs.js";

function parsedEdit(text, proposed) {
  if (typeof proposed === "string" || proposed === null) return text;
  return JSON.parse(text);  // a structured output is edited as JSON
}

export function ApprovalCard({ request, selected, onSelect, onDone }) {
  const original = pretty(request.output);
  const [text, setText] = useState(original);
  const [reason, setReason] = useState("");
  const [message, setMessage] = useState(null);
  const [busy, setBusy] = useState(false);
  const isEdited = text !== original;

  async function decide(approve) {
    let body = { approve, reason, by: "dashboard" };
    try {
      if (approve && isEdited) body = { ...body, output: parsedEdit(text, request.output) };
    } catch (e) {
      return setMessage({ error: true, text: `the edited output is not JSON: ${e.message}` });
    }
    setBusy(true);
    try {
      const path = `/v1/runs/${encodeURIComponent(request.run_id)}/approvals/${request.task_id}`;
      const out = await api(path, { method: "POST", body });
      setMessage({ error: false, text: out.detail });
      onDone && onDone();
    } catch (problem) {
      setMessage({ error: true, text: problem.message });
    } finally {
      setBusy(false);
    }
  }

  return html`
    <article class="card approval" data-run=${request.run_id} data-task=${request.task_id}>
      <header>
        ${onSelect && html`<input type="checkbox" aria-label="select" checked=${selected}
          onChange=${(e) => onSelect(e.target.checked)} />`}
        <strong class="mono">${request.task_id}</strong>
        <span class="muted">${`by ${request.agent || "?"} in run `}<a class="mono"
          href=${`#/runs/${request.run_id}`}>${shortId(request.run_id)}</a>${
          request.goal || request.workflow ? ` · ${request.goal || request.workflow}` : ""}</span>
      </header>
      ${request.reason && html`<p>${request.reason}</p>`}
      <p class="muted small">asked ${time(request.asked_at)}${request.deadline ? ` · decided automatically at ${time(request.deadline)}` : ""}</p>
      <label class="small">Proposed output${isEdited ? " (edited)" : ""}
        <textarea class="mono" rows=${Math.min(12, original.split("\n").length + 1)} value=${text}
                  onInput=${(e) => setText(e.target.value)} /></label>
      <div class="row">
        <button class="primary" disabled=${busy} onClick=${() => decide(true)}>
          ${isEdited ? "Approve edited" : "Approve"}</button>
        <input class="grow" placeholder="reason to deny" value=${reason}
               onInput=${(e) => setReason(e.target.value)} />
        <button class="danger" disabled=${busy || !reason.trim()} onClick=${() => decide(false)}>Deny</button>
      </div>
      ${message && html`<p class=${message.error ? "error" : "ok"}>${message.text}</p>`}
    </article>`;
}

export function ApprovalsPage() {
  const [pending, setPending] = useState(null);
  const [chosen, setChosen] = useState(new Set());
  const [message, setMessage] = useState(null);
  const load = () => api("/v1/approvals").then(setPending, (e) => setMessage(e.message));
  useLive(load);
  const key = (r) => `${r.run_id} ${r.task_id}`;

  function choose(request, isOn) {
    const next = new Set(chosen);
    isOn ? next.add(key(request)) : next.delete(key(request));
    setChosen(next);
  }

  async function approveChosen() {
    const decisions = pending.filter((r) => chosen.has(key(r)))
      .map((r) => ({ run_id: r.run_id, task_id: r.task_id, approve: true, by: "dashboard" }));
    const outcomes = await api("/v1/approvals", { method: "POST", body: { decisions } });
    const failed = outcomes.filter((o) => o.status !== 200);
    setMessage(`${outcomes.length - failed.length} approved${failed.length ? `; ${failed.map((o) => `${o.task_id}: ${o.detail}`).join("; ")}` : ""}`);
    setChosen(new Set());
    load();
  }

  return html`
    <section class="toolbar">
      <h1>Approvals</h1>
      <button class="primary" disabled=${!chosen.size} onClick=${approveChosen}>
        Approve selected (${chosen.size})</button>
    </section>
    ${message && html`<p class="ok">${message}</p>`}
    ${pending === null ? html`<p class="muted">Loading…</p>`
      : !pending.length ? html`<p class="muted" data-empty="approvals">Nothing is waiting for approval.</p>`
      : pending.map((r) => html`<${ApprovalCard} key=${key(r)} request=${r} selected=${chosen.has(key(r))}
          onSelect=${(on) => choose(r, on)} onDone=${load} />`)}`;
}
