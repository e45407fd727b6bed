// The map page: fetches /api/map with the chosen filters, draws a graph (SVG, a small deterministic
// force layout, no external libraries) and a table of endpoints. Refreshes every 5 seconds.
"use strict";
const RANK = { none: -1, low: 0, medium: 1, high: 2 };
const NS = "http://www.w3.org/2000/svg";
const W = 1200, H = 700;
let state = { map: { nodes: [], edges: [] }, types: [], selected: null, positions: {} };

function el(tag, attrs, text) {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}
function h(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}
const fmtTime = (t) => (t ? new Date(t * 1000).toISOString().replace("T", " ").slice(0, 19) : "");
const typeLabel = (t) => (state.types.find((x) => x.type === t) || { label: t }).label;
const maxLevel = (levels) => levels.reduce((a, b) => (RANK[b] > RANK[a] ? b : a), "none");

function filters() {
  return {
    namespace: document.getElementById("f-namespace").value,
    type: document.getElementById("f-type").value,
    sensitivity: document.getElementById("f-sensitivity").value,
  };
}

// The API needs the service's bearer token: from "#token=..." in the address (then removed from it),
// else asked once; kept for this tab only (sessionStorage), never in the page's URL or a cookie.
const TOKEN_KEY = "privacy-map-token";
function token() {
  const m = location.hash.match(/token=([^&]+)/);
  if (m) {
    sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(m[1]));
    history.replaceState(null, "", location.pathname + location.search);
  }
  let t = sessionStorage.getItem(TOKEN_KEY);
  if (!t) {
    t = window.prompt("Bearer token of the map service (printed once at its start, or your auth Secret):") || "";
    sessionStorage.setItem(TOKEN_KEY, t);
  }
  return t;
}

async function api(path) {
  const r = await fetch(path, { headers: { Authorization: "Bearer " + token() } });
  if (r.status === 401) {
    sessionStorage.removeItem(TOKEN_KEY);
    throw new Error("the map service refused the token");
  }
  return r.json();
}

async function load() {
  if (!state.types.length) {
    state.types = await api("api/types");
    const sel = document.getElementById("f-type");
    for (const t of state.types) sel.append(h("option", { value: t.type }, t.label));
  }
  const q = new URLSearchParams(filters()).toString();
  const all = await api("api/map");
  const nsSel = document.getElementById("f-namespace");
  const known = new Set([...nsSel.options].map((o) => o.value));
  for (const ns of [...new Set(all.nodes.map((n) => n.namespace).filter(Boolean))].sort()) {
    if (!known.has(ns)) nsSel.append(h("option", { value: ns }, ns));
  }
  state.map = await api("api/map?" + q);
  render();
}

// One line per (source, destination): endpoints grouped, data types united.
function links() {
  const byPair = new Map();
  for (const e of state.map.edges) {
    const k = e.src + "\u0000" + e.dst;
    if (!byPair.has(k)) byPair.set(k, { src: e.src, dst: e.dst, edges: [], types: new Set(), level: "none", count: 0 });
    const l = byPair.get(k);
    l.edges.push(e);
    l.count += e.count;
    e.types.forEach((t) => l.types.add(t.type));
    l.level = maxLevel([l.level, e.sensitivity]);
  }
  return [...byPair.values()];
}

function layout(nodes, ls) {
  // Deterministic: start on a circle (sorted ids), then a few hundred steps of spring/repulsion.
  const ids = nodes.map((n) => n.id).sort();
  const pos = {};
  ids.forEach((id, i) => {
    const a = (2 * Math.PI * i) / Math.max(1, ids.length);
    pos[id] = state.positions[id] || { x: W / 2 + 0.36 * W * Math.cos(a), y: H / 2 + 0.36 * H * Math.sin(a) };
  });
  for (let it = 0; it < 300; it++) {
    const f = {};
    ids.forEach((id) => (f[id] = { x: 0, y: 0 }));
    for (let i = 0; i < ids.length; i++)
      for (let j = i + 1; j < ids.length; j++) {
        const a = pos[ids[i]], b = pos[ids[j]];
        let dx = a.x - b.x, dy = a.y - b.y, d2 = dx * dx + dy * dy + 0.01;
        const rep = 140000 / d2, d = Math.sqrt(d2);
        f[ids[i]].x += (rep * dx) / d; f[ids[i]].y += (rep * dy) / d;
        f[ids[j]].x -= (rep * dx) / d; f[ids[j]].y -= (rep * dy) / d;
      }
    for (const l of ls) {
      const a = pos[l.src], b = pos[l.dst];
      if (!a || !b || l.src === l.dst) continue;
      const dx = b.x - a.x, dy = b.y - a.y, d = Math.sqrt(dx * dx + dy * dy) + 0.01, k = 0.02 * (d - 300);
      f[l.src].x += (k * dx) / d; f[l.src].y += (k * dy) / d;
      f[l.dst].x -= (k * dx) / d; f[l.dst].y -= (k * dy) / d;
    }
    // keep nodes off other nodes' lines: a node near a line's middle is pushed away from it
    for (const l of ls) {
      const a = pos[l.src], b = pos[l.dst];
      if (!a || !b) continue;
      const mx = (a.x + b.x) / 2, my = (a.y + b.y) / 2;
      for (const id of ids) {
        if (id === l.src || id === l.dst) continue;
        const dx = pos[id].x - mx, dy = pos[id].y - my, d = Math.sqrt(dx * dx + dy * dy) + 0.01;
        if (d < 110) { f[id].x += (8 * dx) / d; f[id].y += (8 * dy) / d; }
      }
    }
    for (const id of ids) {
      f[id].x += 0.01 * (W / 2 - pos[id].x); f[id].y += 0.01 * (H / 2 - pos[id].y);
      pos[id].x = Math.min(W - 90, Math.max(90, pos[id].x + Math.max(-20, Math.min(20, f[id].x))));
      pos[id].y = Math.min(H - 50, Math.max(40, pos[id].y + Math.max(-20, Math.min(20, f[id].y))));
    }
  }
  return pos;
}

function drawGraph() {
  const svg = document.getElementById("graph");
  svg.replaceChildren();
  const defs = el("defs");
  for (const lv of ["none", "low", "medium", "high"]) {
    const m = el("marker", { id: "arrow-" + lv, viewBox: "0 0 10 10", refX: "10", refY: "5", markerWidth: "14", markerHeight: "14", markerUnits: "userSpaceOnUse", orient: "auto-start-reverse" });
    m.append(el("path", { d: "M 0 0 L 10 5 L 0 10 z", fill: { none: "#9aa3b2", low: "#2f9e44", medium: "#f08c00", high: "#e03131" }[lv] }));
    defs.append(m);
  }
  svg.append(defs);
  const nodes = state.map.nodes, ls = links();
  if (!nodes.length) {
    svg.append(el("text", { x: W / 2, y: H / 2, "text-anchor": "middle", class: "node-ns" }, "No flows seen yet (or none match the filters)."));
    return;
  }
  const pos = layout(nodes, ls);
  state.positions = pos;
  const gEdges = el("g"), gLabels = el("g"), gNodes = el("g");
  for (const l of ls) {
    const a = pos[l.src], b = pos[l.dst];
    if (!a || !b) continue;
    const dx = b.x - a.x, dy = b.y - a.y, d = Math.sqrt(dx * dx + dy * dy) || 1;
    const nx = -dy / d, ny = dx / d, bend = 30;
    const mx = (a.x + b.x) / 2 + nx * bend, my = (a.y + b.y) / 2 + ny * bend;
    const ex = b.x - (dx / d) * 22, ey = b.y - (dy / d) * 22, sx = a.x + (dx / d) * 22, sy = a.y + (dy / d) * 22;
    const path = el("path", { d: `M ${sx} ${sy} Q ${mx} ${my} ${ex} ${ey}`, class: "edge " + l.level, "marker-end": `url(#arrow-${l.level})`,
      "data-src": l.src, "data-dst": l.dst });
    path.append(el("title", {}, `${l.src} → ${l.dst}\n${l.edges.length} endpoint(s), ${l.count} request(s)`));
    path.addEventListener("click", () => { state.selected = l.src + "\u0000" + l.dst; drawDetails(l); drawGraph(); });
    if (state.selected === l.src + "\u0000" + l.dst) path.classList.add("selected");
    gEdges.append(path);
    const types = [...l.types].map(typeLabel);
    const text = types.length ? types.join(", ") : "no personal data";
    const lines = [];
    for (let i = 0; i < types.length || i === 0; i += 3) lines.push(types.length ? types.slice(i, i + 3).join(", ") : text);
    // on the curve itself: a quadratic Bézier's midpoint is (start + 2·control + end) / 4
    const lx = (sx + 2 * mx + ex) / 4, ly = (sy + 2 * my + ey) / 4;
    const label = el("text", { x: lx, y: ly - 4 - 12 * (lines.length - 1) / 2, "text-anchor": "middle", class: "edge-label", "data-edge": l.src + " → " + l.dst });
    lines.forEach((ln, i) => label.append(el("tspan", { x: lx, dy: i ? 13 : 0 }, ln)));
    gLabels.append(label);
  }
  for (const n of nodes) {
    const p = pos[n.id];
    const g = el("g", { class: "node", "data-id": n.id, transform: `translate(${p.x},${p.y})` });
    let shape;
    if (n.kind === "workload") shape = el("circle", { r: 18, class: "node-shape workload" });
    else if (n.kind === "external") shape = el("path", { d: "M 0 -22 L 22 0 L 0 22 L -22 0 z", class: "node-shape external" });
    else shape = el("rect", { x: -16, y: -16, width: 32, height: 32, class: "node-shape " + n.kind });
    shape.append(el("title", {}, `${n.id} (${n.kind})`));
    // labels beside the node, so lines arriving from above or below never hide them
    g.append(shape, el("text", { x: 26, y: 0, class: "node-label" }, n.name));
    if (n.namespace) g.append(el("text", { x: 26, y: 13, class: "node-ns" }, n.namespace));
    gNodes.append(g);
  }
  svg.append(gEdges, gNodes, gLabels);
}

function drawDetails(l) {
  const box = document.getElementById("details");
  box.replaceChildren(h("h3", {}, `${l.src} → ${l.dst}`));
  for (const e of l.edges) {
    box.append(h("p", {}, h("b", {}, `${e.method} ${e.path}`), ` · ${e.count} request(s) · `, h("span", { class: "sens " + e.sensitivity }, e.sensitivity)));
    if (!e.fields.length) continue;
    const t = h("table", {});
    for (const f of e.fields) t.append(h("tr", {}, h("td", {}, typeLabel(f.type)), h("td", {}, `${f.part} ${f.where}`), h("td", {}, f.path), h("td", {}, h("code", {}, f.sample))));
    box.append(t);
  }
}

function drawTable() {
  const tb = document.querySelector("#edges-table tbody");
  tb.replaceChildren();
  const byId = Object.fromEntries(state.map.nodes.map((n) => [n.id, n]));
  const name = (id) => (byId[id] ? (byId[id].namespace ? `${byId[id].namespace}/${byId[id].name}` : byId[id].name) : id);
  for (const e of state.map.edges) {
    const types = h("td", {});
    e.types.forEach((t) => types.append(h("span", { class: "pill", title: `${t.count} request(s)` }, typeLabel(t.type))));
    if (!e.types.length) types.append("—");
    tb.append(h("tr", { "data-edge": e.id }, h("td", {}, name(e.src)), h("td", {}, name(e.dst)), h("td", {}, e.method), h("td", {}, e.path), types,
      h("td", { class: "sens " + e.sensitivity }, e.sensitivity), h("td", {}, e.count), h("td", {}, e.with_data), h("td", {}, fmtTime(e.first_seen)), h("td", {}, fmtTime(e.last_seen))));
  }
}

function render() {
  const m = state.map;
  const sensitive = m.edges.filter((e) => e.types.length).length;
  document.getElementById("summary").textContent = `${m.nodes.length} nodes · ${m.edges.length} endpoints · ${sensitive} carrying personal data`;
  drawGraph();
  drawTable();
}

function tab(which) {
  document.getElementById("graph-view").hidden = which !== "graph";
  document.getElementById("table-view").hidden = which !== "table";
  document.getElementById("tab-graph").classList.toggle("active", which === "graph");
  document.getElementById("tab-table").classList.toggle("active", which === "table");
}

document.getElementById("tab-graph").addEventListener("click", () => tab("graph"));
document.getElementById("tab-table").addEventListener("click", () => tab("table"));
for (const id of ["f-namespace", "f-type", "f-sensitivity"]) document.getElementById(id).addEventListener("change", () => { state.positions = {}; load(); });
load().then(() => document.body.setAttribute("data-loaded", "1"));
setInterval(load, 5000);
