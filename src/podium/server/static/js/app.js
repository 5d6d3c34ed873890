// The dashboard's shell: the token gate, the navigation, and the page for the URL fragment
// (#/runs, #/runs/<id>, #/approvals, #/metrics).
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { api, setToken, token } from "./api.js";
import { ApprovalsPage } from "./approvals.js";
import { html } from "./html.js";
import { MetricsPage } from "./metrics.js";
import { RunPage } from "./run.js";
import { RunsPage } from "./runs.js";

function route() {
  const parts = location.hash.replace(/^#\/?/, "").split("/");
  if (parts[0] === "runs" && parts[1]) return { page: "run", id: decodeURIComponent(parts[1]) };
  if (parts[0] === "approvals") return { page: "approvals" };
  if (parts[0] === "metrics") return { page: "metrics" };
  return { page: "runs" };
}

function Login({ onDone }) {
  const [value, setValue] = useState("");
  const [error, setError] = useState(null);
  async function submit(event) {
    event.preventDefault();
    setToken(value);
    try {
      await api("/v1/runs?limit=1");
      onDone();
    } catch (problem) {
      setError(problem.message);
    }
  }
  return html`
    <form class="login card" onSubmit=${submit}>
      <h1>podium</h1>
      <p>Paste the token that <code>podium serve</code> printed.</p>
      <input type="password" name="token" value=${value} autocomplete="off"
             onInput=${(e) => setValue(e.target.value)} placeholder="token" />
      <button type="submit" class="primary">Open the dashboard</button>
      ${error && html`<p class="error">${error}</p>`}
    </form>`;
}

function Nav({ current }) {
  const link = (page, label) => html`
    <a href=${`#/${page}`} class=${current === page || (page === "runs" && current === "run") ? "active" : ""}>
      ${label}</a>`;
  return html`
    <header class="top">
      <a class="brand" href="#/runs">podium</a>
      <nav>${link("runs", "Runs")}${link("approvals", "Approvals")}${link("metrics", "Metrics")}</nav>
    </header>`;
}

function App() {
  const [where, setWhere] = useState(route());
  const [hasToken, setHasToken] = useState(Boolean(token()));
  useEffect(() => {
    const onHash = () => setWhere(route());
    const onUnauthorized = () => setHasToken(false);
    window.addEventListener("hashchange", onHash);
    window.addEventListener("podium:unauthorized", onUnauthorized);
    return () => {
      window.removeEventListener("hashchange", onHash);
      window.removeEventListener("podium:unauthorized", onUnauthorized);
    };
  }, []);
  if (!hasToken) return html`<${Login} onDone=${() => setHasToken(true)} />`;
  const pages = {
    runs: () => html`<${RunsPage} />`,
    run: () => html`<${RunPage} id=${where.id} key=${where.id} />`,
    approvals: () => html`<${ApprovalsPage} />`,
    metrics: () => html`<${MetricsPage} />`,
  };
  return html`<${Nav} current=${where.page} /><main>${pages[where.page]()}</main>`;
}

const root = document.getElementById("app");
root.textContent = "";  // the "Loading" note the page shows until this script runs
render(html`<${App} />`, root);
