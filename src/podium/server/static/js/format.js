// How figures read on the dashboard (the CLI's conventions).
import { html } from "./html.js";

export function duration(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  if (seconds < 1) return `${Math.round(seconds * 1000)}ms`;
  if (seconds < 60) return `${seconds.toFixed(1)}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m${String(Math.round(seconds % 60)).padStart(2, "0")}s`;
  return `${Math.floor(minutes / 60)}h${String(minutes % 60).padStart(2, "0")}m`;
}

export function cost(usd) {
  if (usd === null || usd === undefined) return "–";
  return usd === 0 ? "$0" : usd < 0.01 ? `$${usd.toFixed(4)}` : `$${usd.toFixed(2)}`;
}

export function tokens(n) {
  if (n === null || n === undefined) return "–";
  return n >= 1000 ? `${(n / 1000).toFixed(1)}k` : String(n);
}

export function pct(x) {
  return x === null || x === undefined ? "n/a" : `${Math.round(x * 100)}%`;
}

export function num(x, digits = 2) {
  return x === null || x === undefined ? "n/a" : Number(x.toFixed(digits)).toString();
}

export function time(iso) {
  if (!iso) return "–";
  const at = new Date(iso);
  return at.toLocaleString(undefined, { dateStyle: "short", timeStyle: "medium" });
}

export function shortId(id) {
  return id.length > 12 ? id.slice(0, 12) : id;
}

export function preview(value, max = 160) {
  const text = typeof value === "string" ? value : JSON.stringify(value);
  if (text === undefined || text === null) return "";
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

export function pretty(value) {
  return typeof value === "string" ? value : JSON.stringify(value, null, 2);
}

export function Status({ status }) {
  return html`<span class=${`status status-${status}`} data-status=${status}>${status}</span>`;
}
