// A Gantt chart of the run: one lane per agent, a bar per task attempt (from its start to its
// end, or to now while it runs), and a tick per model or tool call inside it.
import { html } from "./html.js";
import { duration } from "./format.js";

const LABEL_W = 140;
const PLOT_W = 860;
const LANE_H = 30;
const AXIS_H = 22;

function seconds(iso, origin) {
  return (new Date(iso).getTime() - origin) / 1000;
}

export function Timeline({ run }) {
  const tasks = run.tasks.filter((t) => t.started_at);
  if (!tasks.length || !run.started_at) return html`<p class="muted">Nothing has started yet.</p>`;
  const origin = new Date(run.started_at).getTime();
  const now = (Date.now() - origin) / 1000;
  const ends = tasks.map((t) => (t.ended_at ? seconds(t.ended_at, origin) : now));
  const span = Math.max(0.001, run.duration_s || 0, ...ends);
  const x = (s) => LABEL_W + (Math.max(0, s) / span) * PLOT_W;
  const lanes = [...new Set(tasks.map((t) => t.agent || "(engine)"))];
  const laneOf = (agent) => lanes.indexOf(agent || "(engine)");
  const height = AXIS_H + lanes.length * LANE_H + 6;
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => f * span);
  return html`
    <svg class="timeline" viewBox=${`0 0 ${LABEL_W + PLOT_W + 10} ${height}`}
         width=${LABEL_W + PLOT_W + 10} height=${height} role="img" aria-label="timeline">
      ${ticks.map((t) => html`
        <line class="tick" x1=${x(t)} x2=${x(t)} y1=${AXIS_H - 4} y2=${height} />
        <text class="tick-label" x=${x(t)} y="12" text-anchor="middle">${duration(t)}</text>`)}
      ${lanes.map((agent, i) => html`
        <text class="lane-label" x="4" y=${AXIS_H + i * LANE_H + 19}>${agent}</text>
        <line class="lane" x1=${LABEL_W} x2=${LABEL_W + PLOT_W} y1=${AXIS_H + (i + 1) * LANE_H} y2=${AXIS_H + (i + 1) * LANE_H} />`)}
      ${tasks.map((t, i) => {
        const start = seconds(t.started_at, origin);
        const y = AXIS_H + laneOf(t.agent) * LANE_H + 5;
        const width = Math.max(3, x(ends[i]) - x(start));
        return html`
          <g class=${`bar bar-${t.status}`} data-task=${t.id}>
            <title>${t.id} (${t.agent || "engine"}): ${t.status}, ${duration(t.duration_s ?? ends[i] - start)}, ${t.model_calls} model and ${t.tool_calls} tool calls</title>
            <rect x=${x(start)} y=${y} width=${width} height=${LANE_H - 10} rx="3" />
            ${width > 60 && html`<text x=${x(start) + 4} y=${y + 14}>${t.id}</text>`}
          </g>`;
      })}
      ${run.calls.map((call) => {
        const end = seconds(call.at, origin);
        const lane = laneOf(call.agent);
        if (lane < 0) return null;
        const y = AXIS_H + lane * LANE_H + LANE_H - 6;
        const what = call.kind === "model_called" ? `${call.model}: ${call.input_tokens}+${call.output_tokens} tokens` : `tool ${call.tool}${call.error ? " (failed)" : ""}`;
        return html`
          <rect class=${`call call-${call.kind}`} x=${x(end - call.latency_s)} y=${y}
                width=${Math.max(2, x(end) - x(end - call.latency_s))} height="3">
            <title>${call.task_id}: ${what}, ${duration(call.latency_s)}</title>
          </rect>`;
      })}
    </svg>`;
}
