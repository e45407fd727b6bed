// The map page: fetches /api/map with the chosen filters and draws it with Cytoscape.js (vendored in
// vendor/, no network needed) laid out by dagre, a layered layout: flows read left to right, each
// service a box with its name inside (so a name cannot overlap another), grouped by namespace.
// A table lists the same endpoints as text. Refreshes every 5 seconds without moving what is drawn
// unless the set of services or lines changed.
"use strict";
const RANK = { none: -1, low: 0, medium: 1, high: 2 };
const COLOUR = { none: "#9aa3b2", low: "#2f9e44", medium: "#f08c00", high: "#e03131", unread: "#868e96" };
const OUTSIDE = "outside"; // the box of external hosts and addresses no namespace claims (a namespace id starts "ns:")
const MAX_CHIPS = 3; // data types written on a line; the rest as "+N" (all of them in the details)
let state = { map: { nodes: [], edges: [] }, coverage: { flows: [], workloads: [], namespaces: [] }, types: [], signature: "", selected: null };
let cy = null;

function h(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}
const fmtTime = (t) => (t ? new Date(t * 1000).toISOString().replace("T", " ").slice(0, 19) : "");
const typeLabel = (t) => (state.types.find((x) => x.type === t) || { label: t }).label;
const maxLevel = (levels) => levels.reduce((a, b) => (RANK[b] > RANK[a] ? b : a), "none");
// A flow the sensor saw but could not read (issue 15's coverage: TLS without a probe, unknown
// protocol...): the API marks the endpoint "unread" with a reason; drawn dashed, never as "no data".
const isUnread = (e) => e.unread === true;

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

let loads = 0; // a newer request (the reader changed a filter) wins over an older one still on its way
async function load() {
  const mine = ++loads;
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
  const map = await api("api/map?" + q);
  const coverage = await api("api/coverage");
  if (mine !== loads) return;
  state.map = map;
  state.coverage = coverage;
  render();
  document.body.setAttribute("data-shown", q); // which filters the drawing shows (tests wait on it)
}

// One line per (source, destination): endpoints grouped, data types united.
function links() {
  const byPair = new Map();
  for (const e of state.map.edges) {
    const k = e.src + "\u0000" + e.dst;
    if (!byPair.has(k)) byPair.set(k, { key: k, src: e.src, dst: e.dst, edges: [], types: new Set(), level: "none", count: 0 });
    const l = byPair.get(k);
    l.edges.push(e);
    l.count += e.count;
    e.types.forEach((t) => l.types.add(t.type));
    l.level = maxLevel([l.level, e.sensitivity]);
  }
  for (const l of byPair.values()) l.unread = l.edges.every(isUnread);
  return [...byPair.values()];
}

function edgeLabel(l) {
  if (l.unread) return "unread: " + (l.edges.map((e) => e.unread_reason).find(Boolean) || "not inspected");
  const types = [...l.types].map(typeLabel).sort();
  if (!types.length) return "";
  return types.slice(0, MAX_CHIPS).join(", ") + (types.length > MAX_CHIPS ? ` +${types.length - MAX_CHIPS}` : "");
}

function elements() {
  const els = [];
  const namespaces = new Set();
  for (const n of state.map.nodes) {
    if (n.namespace) namespaces.add(n.namespace);
    els.push({ group: "nodes", classes: n.kind,
      data: { id: n.id, label: n.name, kind: n.kind, namespace: n.namespace || "", parent: n.namespace ? "ns:" + n.namespace : OUTSIDE } });
  }
  for (const ns of [...namespaces].sort()) els.push({ group: "nodes", classes: "namespace", data: { id: "ns:" + ns, label: ns, namespace: ns } });
  if (state.map.nodes.some((n) => !n.namespace)) els.push({ group: "nodes", classes: "namespace outside", data: { id: OUTSIDE, label: "outside the cluster", namespace: "" } });
  const ids = new Set(state.map.nodes.map((n) => n.id));
  for (const l of links()) {
    if (!ids.has(l.src) || !ids.has(l.dst)) continue;
    els.push({ group: "edges", classes: (l.unread ? "unread" : l.level) + (l.src === l.dst ? " loop" : ""),
      data: { id: "e:" + l.key, source: l.src, target: l.dst, label: edgeLabel(l), level: l.level, count: l.count, key: l.key } });
  }
  return els;
}

const STYLE = [
  { selector: "node", style: {
    shape: "round-rectangle", label: "data(label)", "text-valign": "center", "text-halign": "center",
    "font-family": "DejaVu Sans, sans-serif", "font-size": 12, "font-weight": "bold", color: "#1d2330",
    width: "label", height: 22, padding: "6px", "background-color": "#e7ecff", "border-width": 1.5, "border-color": "#3b5bdb",
    "text-wrap": "ellipsis", "text-max-width": 220 } },
  { selector: "node.external", style: { shape: "cut-rectangle", "background-color": "#f3f0ff", "border-color": "#7048e8" } },
  { selector: "node.ip, node.pod, node.service", style: { shape: "rectangle", "background-color": "#f1f3f5", "border-color": "#495057" } },
  { selector: "node.namespace", style: {
    shape: "round-rectangle", "background-color": "#f8f9fb", "background-opacity": 1, "border-color": "#b8c0cc", "border-width": 1,
    "border-style": "solid", label: "data(label)", "text-valign": "top", "text-halign": "center", "font-size": 20,
    "font-weight": "bold", color: "#5a6272", "text-margin-y": -3, padding: "10px", "text-wrap": "none" } },
  { selector: "node.outside", style: { "border-style": "dashed", "background-color": "#fbfaff" } },
  { selector: "edge", style: {
    width: 2, "curve-style": "bezier", "target-arrow-shape": "triangle", "arrow-scale": 0.9, "line-color": COLOUR.none,
    "target-arrow-color": COLOUR.none, label: "data(label)", "font-size": 10, "font-family": "DejaVu Sans, sans-serif",
    color: "#1d2330", "text-background-color": "#ffffff", "text-background-opacity": 1, "text-background-shape": "round-rectangle",
    "text-background-padding": "2px", "text-border-width": 1, "text-border-opacity": 1, "text-border-color": COLOUR.none,
    "text-rotation": "none" } },
  ...["low", "medium", "high"].map((lv) => ({ selector: "edge." + lv, style: { "line-color": COLOUR[lv], "target-arrow-color": COLOUR[lv], "text-border-color": COLOUR[lv] } })),
  { selector: "edge.high", style: { width: 3 } },
  { selector: "edge.unread", style: { "line-style": "dashed", "line-dash-pattern": [6, 4], "line-color": COLOUR.unread,
    "target-arrow-color": COLOUR.unread, "text-border-color": COLOUR.unread, "font-style": "italic", color: "#495057" } },
  { selector: "edge.loop", style: { "curve-style": "bezier", "loop-direction": "0deg", "loop-sweep": "-40deg" } },
  // a chip moved along its line (placeChips): drawn as the source-end label, at chipAt px from the source
  { selector: "edge.chip-along", style: { label: "", "source-label": "data(label)", "source-text-offset": "data(chipAt)" } },
  { selector: "edge.crowded", style: { label: "", "source-label": "" } },
  { selector: "edge.quiet", style: { label: "", "source-label": "" } },
  { selector: "edge.quiet:selected, edge.crowded:selected", style: { label: "data(label)", "source-label": "" } },
  { selector: ".faded", style: { opacity: 0.15, "text-opacity": 0.15 } },
  { selector: "node.match", style: { "border-width": 3, "border-color": "#f59f00", "background-color": "#fff9db" } },
  { selector: "edge:selected", style: { width: 5, "z-index": 10, opacity: 1, "text-opacity": 1 } },
  { selector: "node:selected", style: { "border-width": 3 } },
];

// The layout, nested: dagre (layered, left to right) inside each namespace, then dagre once more on
// the namespaces themselves, each sized by its own drawing, and every namespace moved into place.
// Measured on the generated 100-node map (tests/processor/test_web.py): one dagre run over the whole
// compound graph took 84 s and let namespace boxes overlap; nested it takes well under a second.
const DAGRE = { name: "dagre", rankDir: "LR", nodeSep: 8, rankSep: 45, edgeSep: 6, nodeDimensionsIncludeLabels: true,
  fit: false, animate: false };
const GAP = { x: 90, y: 90 }; // between namespace boxes: room for the lines between them and a title at whole-map zoom

function groupOf(n) { return n.data("namespace") ? "ns:" + n.data("namespace") : OUTSIDE; }

function runLayout(c) {
  const leaves = c.nodes().filter((n) => !n.hasClass("namespace"));
  const groups = new Map();
  leaves.forEach((n) => { const g = groupOf(n); if (!groups.has(g)) groups.set(g, c.collection()); groups.set(g, groups.get(g).union(n)); });
  const boxes = new Map();
  for (const [g, members] of groups) {
    const inner = members.union(members.edgesWith(members));
    // dagre leaves no room for a line's data-type chip: make each rank gap as wide as the longest one
    const chip = Math.max(0, ...inner.edges().map((e) => 6.2 * e.data("label").length + 24));
    inner.layout({ ...DAGRE, rankSep: Math.min(220, Math.max(DAGRE.rankSep, chip)) }).run();
    let bb = members.boundingBox({ includeLabels: true });
    // services that barely call each other end in one tall column: a grid of columns is more compact
    if (members.length > 8 && bb.h > 2.5 * bb.w) {
      const cols = Math.max(2, Math.round(Math.sqrt(bb.h / bb.w)));
      members.sort((a, b) => a.data("label").localeCompare(b.data("label")))
        .layout({ name: "grid", cols, avoidOverlap: true, avoidOverlapPadding: 8, condense: true, fit: false,
          nodeDimensionsIncludeLabels: true, boundingBox: { x1: bb.x1, y1: bb.y1, w: bb.w * cols, h: bb.h / cols } }).run();
      bb = members.boundingBox({ includeLabels: true });
    }
    boxes.set(g, bb);
  }
  // the namespaces as one small graph: a line from one to another where any flow goes so
  const q = cytoscape({ headless: true, styleEnabled: true,
    style: [{ selector: "node", style: { width: "data(w)", height: "data(h)", shape: "rectangle" } }] });
  for (const [g, bb] of boxes) q.add({ group: "nodes", data: { id: g, w: bb.w + 28, h: bb.h + 28 } });
  const seen = new Set();
  c.edges().forEach((e) => {
    const a = groupOf(e.source()), b = groupOf(e.target()), k = a + "\u0000" + b;
    if (a !== b && !seen.has(k)) { seen.add(k); q.add({ group: "edges", data: { source: a, target: b } }); }
  });
  // left to right, or top to bottom when that fills the screen better (many namespaces in a chain)
  const fill = () => { const b = q.nodes().boundingBox(); return Math.min(c.width() / b.w, c.height() / b.h); };
  // or dagre's left-to-right order wrapped into rows like text (a long chain of namespaces)
  const lrRun = () => q.layout({ ...DAGRE, nodeSep: GAP.y, rankSep: GAP.x, nodeDimensionsIncludeLabels: false }).run();
  const candidates = [
    lrRun,
    () => q.layout({ ...DAGRE, rankDir: "TB", nodeSep: GAP.x, rankSep: GAP.y + 20, nodeDimensionsIncludeLabels: false }).run(),
    ...[0.8, 1, 1.3, 1.7, 2.2].map((k) => () => { lrRun(); wrapRows(q, k * c.width() / c.height()); }),
  ];
  let best = 0, bestFill = -1;
  candidates.forEach((run, i) => { run(); const f = fill(); if (f > bestFill + 1e-9) { best = i; bestFill = f; } });
  candidates[best]();
  for (const [g, bb] of boxes) {
    const p = q.getElementById(g).position();
    const dx = p.x - (bb.x1 + bb.w / 2), dy = p.y - (bb.y1 + bb.h / 2);
    groups.get(g).positions((n) => ({ x: n.position("x") + dx, y: n.position("y") + dy }));
  }
  q.destroy();
  placeChips(c);
  fit(c);
}

// Each line's data-type chip where it covers no other chip, service or namespace title: at the
// middle of the line, else further along it; a chip with no free spot is left off (the line keeps
// its colour; clicking it shows the chip and the details list every type). Chips are drawn in model
// coordinates, so a placement free of overlaps holds at every zoom where chips show. Riskier lines
// (higher sensitivity, more requests) choose first. Measured on the generated 100-node map: at
// zoom 1 the chips at the middle only overlapped 51 times and covered 32 service names.
const CHIP_SPOTS = [0.5, 0.35, 0.65, 0.22, 0.78];
function placeChips(c) {
  const labelOnly = { includeNodes: false, includeEdges: false, includeOverlays: false, includeLabels: true };
  const hit = (a, b) => a.x1 < b.x2 && b.x1 < a.x2 && a.y1 < b.y2 && b.y1 < a.y2;
  const taken = [];
  c.nodes().forEach((n) => { taken.push(n.isParent() ? n.boundingBox(labelOnly) : n.boundingBox({ includeLabels: true, includeOverlays: false })); });
  const edges = c.edges().filter((e) => e.data("label")).sort((a, b) =>
    RANK[b.data("level")] - RANK[a.data("level")] || b.data("count") - a.data("count"));
  c.batch(() => c.edges().removeClass("chip-along crowded quiet")); // measured as drawn at full size; callers re-quiet
  edges.forEach((e) => {
    const s = e.sourceEndpoint(), t = e.targetEndpoint(), len = Math.hypot(t.x - s.x, t.y - s.y);
    const spots = e.isLoop() ? [0.5] : CHIP_SPOTS;
    for (const at of spots) {
      e.toggleClass("chip-along", at !== 0.5);
      if (at !== 0.5) e.data("chipAt", at * len);
      const bb = e.boundingBox(labelOnly);
      if (bb.w > 0 && !taken.some((x) => hit(x, bb))) { taken.push(bb); return; }
    }
    e.removeClass("chip-along").addClass("crowded");
  });
}

// Groups in dagre's order (by x, then y) placed in rows about as wide as the screen's shape asks.
function wrapRows(q, aspect) {
  const ns = q.nodes().sort((a, b) => a.position("x") - b.position("x") || a.position("y") - b.position("y"));
  const area = ns.reduce((t, n) => t + (n.data("w") + GAP.x) * (n.data("h") + GAP.y), 0);
  const rowW = Math.max(Math.sqrt(area * aspect), ...ns.map((n) => n.data("w")));
  let x = 0, y = 0, rowH = 0;
  ns.forEach((n) => {
    const w = n.data("w"), hgt = n.data("h");
    if (x > 0 && x + w > rowW) { x = 0; y += rowH + GAP.y; rowH = 0; }
    n.position({ x: x + w / 2, y: y + hgt / 2 });
    x += w + GAP.x; rowH = Math.max(rowH, hgt);
  });
}

const CHIPS_FROM_ZOOM = 0.75;
function quietChips(force) {
  const quiet = cy.zoom() < CHIPS_FROM_ZOOM;
  if (force || quiet !== cy.scratch("quiet")) { cy.scratch("quiet", quiet); cy.edges().toggleClass("quiet", quiet); }
}

// the whole map on screen, but a small one no bigger than life
function fit(c) {
  c.fit(undefined, 16);
  if (c.zoom() > 1.3) { c.zoom(1.3); c.center(); }
  quietChips(true);
}

function ensureCy() {
  if (cy) return cy;
  cy = cytoscape({ container: document.getElementById("graph"), style: STYLE, wheelSensitivity: 0.3, minZoom: 0.05, maxZoom: 4,
    boxSelectionEnabled: false, autoungrabify: false });
  // semantic zoom: a namespace's title stays about 15 px on screen, so the whole-map view reads by namespace
  // and a line's data-type chips show from zoom 0.75 on (smaller, 300 of them are noise; the details list them)
  cy.on("zoom", () => {
    cy.style().selector("node.namespace").style("font-size", Math.max(20, 15 / cy.zoom())).update();
    quietChips();
  });
  cy.on("tap", "edge", (ev) => { select(ev.target.data("key"), "edge"); });
  cy.on("tap", "node", (ev) => { if (!ev.target.hasClass("namespace")) select(ev.target.id(), "node"); });
  cy.on("tap", (ev) => { if (ev.target === cy) select(null); });
  window.mapView = { cy, links, state, runLayout };
  return cy;
}

function drawGraph() {
  const c = ensureCy();
  const els = elements();
  const signature = els.map((e) => e.data.id + "|" + (e.data.parent || "")).sort().join("\n");
  const empty = document.getElementById("graph-empty");
  if (empty) empty.remove();
  if (!state.map.nodes.length) {
    c.elements().remove();
    state.signature = "";
    document.getElementById("graph").append(h("p", { id: "graph-empty", class: "hint" }, "No flows seen yet (or none match the filters)."));
    return;
  }
  if (signature === state.signature) {
    // same services and lines: update labels and colours in place, keep the reader's zoom and pan
    for (const e of els) {
      const x = c.getElementById(e.data.id);
      x.data(e.data);
      x.classes(e.classes);
    }
    placeChips(c); // classes() above dropped the chips' places, and a label may have grown
    quietChips(true); // and the zoom's
  } else {
    state.signature = signature;
    c.batch(() => { c.elements().remove(); c.add(els); });
    runLayout(c);
  }
  applySearch();
  if (state.selected) {
    const still = state.selected.kind === "edge" ? links().find((l) => l.key === state.selected.id) : state.map.nodes.find((n) => n.id === state.selected.id);
    if (still) select(state.selected.id, state.selected.kind); else select(null);
  }
  document.body.setAttribute("data-laid-out", String(Date.now()));
}

function applySearch() {
  const q = document.getElementById("f-search").value.trim().toLowerCase();
  cy.elements().removeClass("faded match");
  if (!q) return;
  const hits = cy.nodes().filter((n) => !n.hasClass("namespace") &&
    [n.id(), n.data("label"), n.data("namespace")].some((s) => (s || "").toLowerCase().includes(q)));
  hits.addClass("match");
  // a match, its lines and their other ends stay; the rest fades (namespace boxes of kept ones stay)
  const near = hits.union(hits.connectedEdges()).union(hits.connectedEdges().connectedNodes());
  cy.elements().difference(near.union(near.filter("node").ancestors())).addClass("faded");
}

function select(id, kind) {
  state.selected = id ? { id, kind } : null;
  if (!cy) return;
  cy.elements().unselect();
  if (!id) { drawHint(); return; }
  if (kind === "edge") {
    const l = links().find((x) => x.key === id);
    cy.getElementById("e:" + id).select();
    if (l) drawEdgeDetails(l);
  } else {
    const n = state.map.nodes.find((x) => x.id === id);
    cy.getElementById(id).select();
    if (n) drawNodeDetails(n);
  }
}

function drawHint() {
  document.getElementById("details").replaceChildren(h("p", { class: "hint" },
    "Click a line to see its endpoints, methods, data types and the fields carrying personal data (masked). Click a service to see its flows. Scroll to zoom, drag to pan."));
}

function nodeName(id) {
  const n = state.map.nodes.find((x) => x.id === id);
  return n ? (n.namespace ? `${n.namespace}/${n.name}` : n.name) : id;
}

function chips(types) {
  const span = h("span", {});
  for (const t of types) span.append(h("span", { class: "pill", title: `${t.count} request(s)` }, typeLabel(t.type)));
  return span;
}

function drawEdgeDetails(l) {
  const box = document.getElementById("details");
  box.replaceChildren(h("h3", {}, `${nodeName(l.src)} → ${nodeName(l.dst)}`),
    h("p", { class: "hint" }, `${l.edges.length} endpoint(s) · ${l.count} request(s)`));
  for (const e of l.edges) {
    const head = h("p", { class: "endpoint" }, h("b", {}, `${e.method} ${e.path}`), ` · ${e.count} request(s) · `,
      isUnread(e) ? h("span", { class: "sens unread" }, "unread: " + (e.unread_reason || "not inspected")) : h("span", { class: "sens " + e.sensitivity }, e.sensitivity));
    box.append(head);
    if (e.types.length) box.append(h("p", {}, chips(e.types)));
    if (!e.fields.length) continue;
    const t = h("table", {}, h("tr", {}, h("th", {}, "type"), h("th", {}, "where"), h("th", {}, "field"), h("th", {}, "example (masked)")));
    for (const f of e.fields) t.append(h("tr", {}, h("td", {}, typeLabel(f.type)), h("td", {}, `${f.part} ${f.where}`), h("td", {}, f.path), h("td", {}, h("code", {}, f.sample))));
    box.append(t);
  }
}

function drawNodeDetails(n) {
  const box = document.getElementById("details");
  const out = links().filter((l) => l.src === n.id), inn = links().filter((l) => l.dst === n.id);
  box.replaceChildren(h("h3", {}, nodeName(n.id)), h("p", { class: "hint" }, `${n.kind}${n.namespace ? " in namespace " + n.namespace : ""}`));
  for (const [title, ls, other] of [["Sends to", out, "dst"], ["Receives from", inn, "src"]]) {
    if (!ls.length) continue;
    box.append(h("h4", {}, `${title} (${ls.length})`));
    const ul = h("ul", {});
    for (const l of ls) {
      const a = h("a", { href: "#", "data-key": l.key }, nodeName(l[other]));
      a.addEventListener("click", (ev) => { ev.preventDefault(); select(l.key, "edge"); });
      ul.append(h("li", {}, a, " ", chips([...l.types].map((t) => ({ type: t, count: "" })))));
    }
    box.append(ul);
  }
}

function drawTable() {
  const tb = document.querySelector("#edges-table tbody");
  tb.replaceChildren();
  for (const e of state.map.edges) {
    const types = h("td", {});
    e.types.forEach((t) => types.append(h("span", { class: "pill", title: `${t.count} request(s)` }, typeLabel(t.type))));
    if (!e.types.length) types.append(isUnread(e) ? "unread" : "—");
    tb.append(h("tr", { "data-edge": e.id, class: isUnread(e) ? "unread" : "" }, h("td", {}, nodeName(e.src)), h("td", {}, nodeName(e.dst)), h("td", {}, e.method), h("td", {}, e.path), types,
      h("td", { class: "sens " + e.sensitivity }, e.sensitivity), h("td", {}, e.count), h("td", {}, e.with_data), h("td", {}, fmtTime(e.first_seen)), h("td", {}, fmtTime(e.last_seen))));
  }
}

// The Coverage tab: per workload and namespace, the share of connections and bytes read, and why not.
const pct = (x) => `${Math.round(100 * x)} %`;
function drawCoverage() {
  const c = state.coverage;
  const reasons = (r) => Object.entries(r).map(([k, v]) => `${k} (${v})`).join(", ") || "—";
  for (const [id, rows] of [["coverage-workloads", c.workloads], ["coverage-namespaces", c.namespaces]]) {
    const tb = document.querySelector(`#${id} tbody`);
    tb.replaceChildren();
    for (const g of rows) tb.append(h("tr", {}, h("td", {}, g.name), h("td", {}, g.connections), h("td", {}, pct(g.inspected_share)),
      h("td", {}, pct(g.inspected_bytes_share)), h("td", {}, reasons(g.reasons))));
  }
  const tb = document.querySelector("#coverage-flows tbody");
  tb.replaceChildren();
  for (const f of c.flows.filter((f) => !f.read)) tb.append(h("tr", { class: "unread" }, h("td", {}, f.src), h("td", {}, f.dst), h("td", {}, f.port),
    h("td", {}, f.verdict), h("td", {}, f.label), h("td", {}, f.reason || "—"), h("td", {}, f.connections), h("td", {}, f.bytes)));
}

function render() {
  const m = state.map;
  const sensitive = m.edges.filter((e) => e.types.length).length;
  document.getElementById("summary").textContent = `${m.nodes.length} nodes · ${m.edges.length} endpoints · ${sensitive} carrying personal data`;
  drawGraph();
  drawTable();
  drawCoverage();
}

function tab(which) {
  document.getElementById("graph-view").hidden = which !== "graph";
  document.getElementById("table-view").hidden = which !== "table";
  document.getElementById("coverage-view").hidden = which !== "coverage";
  document.getElementById("tab-coverage").classList.toggle("active", which === "coverage");
  document.getElementById("tab-graph").classList.toggle("active", which === "graph");
  document.getElementById("tab-table").classList.toggle("active", which === "table");
  if (which === "graph" && cy) cy.resize();
}

document.getElementById("tab-graph").addEventListener("click", () => tab("graph"));
document.getElementById("tab-table").addEventListener("click", () => tab("table"));
document.getElementById("tab-coverage").addEventListener("click", () => tab("coverage"));
document.getElementById("fit").addEventListener("click", () => cy && fit(cy));
let searchTimer = null;
document.getElementById("f-search").addEventListener("input", () => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(() => {
    applySearch();
    const hits = cy.nodes(".match");
    if (hits.length) cy.fit(hits.union(hits.connectedEdges()).union(hits.connectedEdges().connectedNodes()), 30); else fit(cy);
  }, 150);
});
for (const id of ["f-namespace", "f-type", "f-sensitivity"]) document.getElementById(id).addEventListener("change", () => { state.signature = ""; load(); });
load().then(() => document.body.setAttribute("data-loaded", "1"));
setInterval(load, 5000);
