// The task graph: dagre lays the nodes out in layers, Preact draws them as SVG, each node
// coloured by its task's status (live, as the run page reloads its state).
import dagre from "dagre";
import { html } from "./html.js";

const ID_CHAR_PX = 7.4;  // 12px monospace
const TEXT_CHAR_PX = 6.4;  // 11px sans
const LONGEST_STATUS = "interrupted".length;
const NODE_H = 42;

function nodesOf(run) {
  const byId = new Map(run.graph.map((n) => [n.id, n]));
  for (const task of run.tasks) {  // tasks made at run time (map items) are not in the graph
    if (!byId.has(task.id)) byId.set(task.id, { id: task.id, kind: "agent", agent: task.agent, needs: [], parent: null });
  }
  return [...byId.values()];
}

function layout(nodes) {
  const graph = new dagre.graphlib.Graph();
  graph.setGraph({ rankdir: "LR", nodesep: 18, ranksep: 46, marginx: 8, marginy: 8 });
  graph.setDefaultEdgeLabel(() => ({}));
  for (const node of nodes) {
    const second = (node.agent || node.kind).length + 3 + LONGEST_STATUS;
    const width = Math.max(node.id.length * ID_CHAR_PX, second * TEXT_CHAR_PX) + 22;
    graph.setNode(node.id, { width: Math.max(96, width), height: NODE_H });
  }
  const ids = new Set(nodes.map((n) => n.id));
  for (const node of nodes) {
    for (const need of node.needs) if (ids.has(need)) graph.setEdge(need, node.id, { kind: "need" });
    if (node.parent && ids.has(node.parent) && !node.needs.length) {
      graph.setEdge(node.parent, node.id, { kind: "child" });
    }
  }
  dagre.layout(graph);
  return graph;
}

function edgePath(points) {
  return points.map((p, i) => `${i ? "L" : "M"}${p.x.toFixed(1)},${p.y.toFixed(1)}`).join(" ");
}

export function TaskGraph({ run, selected, onSelect }) {
  const nodes = nodesOf(run);
  if (!nodes.length) return html`<p class="muted">No task yet.</p>`;
  const graph = layout(nodes);
  const status = new Map(run.tasks.map((t) => [t.id, t.status]));
  const { width, height } = graph.graph();
  return html`
    <svg class="graph" viewBox=${`0 0 ${width} ${height}`} width=${width} height=${height}
         role="img" aria-label="task graph">
      <defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7"
        markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" /></marker></defs>
      ${graph.edges().map((e) => {
        const edge = graph.edge(e);
        return html`<path class=${`edge edge-${edge.kind}`} d=${edgePath(edge.points)} marker-end="url(#arrow)" />`;
      })}
      ${nodes.map((node) => {
        const box = graph.node(node.id);
        const state = status.get(node.id) || "pending";
        return html`
          <g class=${`node node-${state} ${selected === node.id ? "selected" : ""}`}
             data-task=${node.id} data-status=${state}
             transform=${`translate(${box.x - box.width / 2},${box.y - box.height / 2})`}
             onClick=${() => onSelect(node.id)}>
            <title>${node.id}: ${state}</title>
            <rect width=${box.width} height=${box.height} rx="7" />
            <text x="10" y="17" class="node-id">${node.id}</text>
            <text x="10" y="33" class="node-agent">${node.agent || node.kind} · ${state}</text>
          </g>`;
      })}
    </svg>`;
}
