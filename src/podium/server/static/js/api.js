// Talking to the server: the token, JSON requests, and server-sent event streams.
//
// The token comes from the #token= fragment of the URL `podium serve` prints (browsers never
// send a fragment to the server) or from the login form, and is kept in this browser's
// localStorage. Streams are read with fetch, not EventSource, because EventSource cannot
// send an Authorization header; they reconnect from the last event id they saw.

const KEY = "podium.token";

export function token() {
  const match = location.hash.match(/token=([^&]+)/);
  if (match) {
    localStorage.setItem(KEY, decodeURIComponent(match[1]));
    history.replaceState(null, "", location.pathname + "#/runs");
  }
  return localStorage.getItem(KEY);
}

export function setToken(value) {
  localStorage.setItem(KEY, value.trim());
}

export function forgetToken() {
  localStorage.removeItem(KEY);
  window.dispatchEvent(new CustomEvent("podium:unauthorized"));
}

export class ProblemError extends Error {
  constructor(problem) {
    super(problem.detail || problem.title || "the request failed");
    this.problem = problem;
    this.status = problem.status;
  }
}

export async function api(path, { method = "GET", body } = {}) {
  const headers = { Authorization: `Bearer ${token()}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const type = response.headers.get("content-type") || "";
  const data = type.includes("json") ? await response.json() : null;
  if (response.status === 401) forgetToken();
  if (!response.ok) {
    throw new ProblemError(data || { status: response.status, detail: response.statusText });
  }
  return data;
}

function parseBlock(block) {
  const message = { id: null, event: "message", data: "" };
  const data = [];
  for (const line of block.split("\n")) {
    if (!line || line.startsWith(":")) continue;  // a comment: the server's keep-alive ping
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "data") data.push(value);
    else if (field === "id") message.id = value;
    else if (field === "event") message.event = value;
  }
  if (!data.length) return null;
  message.data = data.join("\n");
  return message;
}

const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Call onMessage({id, event, data}) for each message of the stream at `path`, from `after`
// on; reconnect after a failure from the last id seen. Returns a function that stops it.
export function stream(path, onMessage, { after = 0, retryMs = 1000 } = {}) {
  const controller = new AbortController();
  let last = after;
  let stopped = false;

  async function readAll(response) {
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    let carry = "";  // a trailing "\r" may be the first half of a "\r\n"
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      const text = carry + value;
      carry = text.endsWith("\r") ? "\r" : "";
      buffer += text.slice(0, text.length - carry.length).replace(/\r\n?/g, "\n");
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const message = parseBlock(buffer.slice(0, cut));
        buffer = buffer.slice(cut + 2);
        if (!message) continue;
        if (message.id !== null && /^\d+$/.test(message.id)) last = Number(message.id);
        onMessage(message);
      }
    }
  }

  (async () => {
    while (!stopped) {
      try {
        const headers = { Authorization: `Bearer ${token()}`, Accept: "text/event-stream" };
        if (last) headers["Last-Event-ID"] = String(last);
        const response = await fetch(path, { headers, signal: controller.signal });
        if (response.status === 401) return forgetToken();
        if (response.ok) await readAll(response);
      } catch (error) {
        if (stopped) return;  // aborted on purpose
      }
      if (!stopped) await pause(retryMs);
    }
  })();
  return () => {
    stopped = true;
    controller.abort();
  };
}

// fn, called at most once per `ms` however often the returned function is called.
export function debounce(fn, ms) {
  let timer = null;
  return (...args) => {
    if (timer) return;
    timer = setTimeout(() => {
      timer = null;
      fn(...args);
    }, ms);
  };
}
