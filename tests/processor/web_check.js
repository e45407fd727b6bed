// Drives Debian's chromium with playwright-core and reports what a person sees on the map page.
// usage: node web_check.js URL SCREENSHOT_DIR MODE  -> prints one JSON object
//   MODE small: the three-service map of test_map_page_in_headless_chromium (details, table, filter)
//   MODE big:   the generated 100-node map: label overlaps, search, filters, drill-down
"use strict";
const { launch, watchedPage } = require("./browser.js");

// Label boxes as Cytoscape draws them (model coordinates), and how many pairs of them intersect.
function measure() {
  const cy = window.mapView.cy;
  const only = { includeNodes: false, includeEdges: false, includeLabels: true, includeOverlays: false };
  const box = (e) => e.boundingBox(only);
  const hit = (a, b) => a.x1 < b.x2 - 0.5 && b.x1 < a.x2 - 0.5 && a.y1 < b.y2 - 0.5 && b.y1 < a.y2 - 0.5;
  const pairs = (xs, ys, same) => {
    const out = [];
    for (let i = 0; i < xs.length; i++)
      for (let j = same ? i + 1 : 0; j < ys.length; j++) if (hit(xs[i].bb, ys[j].bb)) out.push([xs[i].id, ys[j].id]);
    return out;
  };
  const visible = (e) => e.visible() && !e.hasClass("faded");
  const leaves = cy.nodes().filter((n) => !n.isParent() && visible(n)).map((n) => ({ id: n.id(), bb: box(n) }));
  const groups = cy.nodes().filter((n) => n.isParent() && visible(n)).map((n) => ({ id: n.id(), bb: box(n) }));
  const drawn = (e) => visible(e) && e.data("label") && !e.hasClass("quiet") && !e.hasClass("crowded");
  const edges = cy.edges().filter(drawn).map((e) => ({ id: e.id(), bb: box(e) }));
  // a namespace's title sits above its box: it may cover no service's name
  const groupVsLeaf = pairs(groups, leaves, false);
  const z = cy.zoom();
  return {
    nodes: leaves.length, groups: groups.length, edgesDrawn: cy.edges().length, labelledEdges: edges.length,
    nodeLabelOverlaps: pairs(leaves, leaves, true),
    groupLabelOverlaps: pairs(groups, groups, true).length + groupVsLeaf.length,
    edgeLabelOverlaps: pairs(edges, edges, true).length,
    groupBoxOverlaps: pairs(cy.nodes(":parent").map((n) => ({ id: n.id(), bb: n.boundingBox({ includeLabels: false }) })),
      cy.nodes(":parent").map((n) => ({ id: n.id(), bb: n.boundingBox({ includeLabels: false }) })), true).length,
    edgeOverNodeLabel: pairs(edges, leaves, false).length,
    zoom: z, nodeFontPx: 12 * z,
    edgeLabelsDrawn: cy.edges(".quiet").length === 0, // the chips show from zoom 0.75 on
    chipsLeftOff: cy.edges(".crowded").length, // no free spot on their line (placeChips)
    chipsMoved: cy.edges(".chip-along").length,
  };
}

// Click a line where a person would: on the drawn line, at its middle, zoomed to it. Where another
// line or a box lies on that middle the click selects that one: then the next candidate line is tried.
async function edgeMidpointClick(page, selector) {
  for (let i = 0; i < 8; i++) {
    const pt = await page.evaluate(([sel, k]) => {
      const cy = window.mapView.cy, m = cy.nodes(".match");
      const e = (m.length ? m.connectedEdges(sel) : cy.edges(sel))[k];
      if (!e) return null;
      cy.fit(e.union(e.connectedNodes()), 120);
      if (cy.zoom() > 1.2) { cy.zoom(1.2); cy.center(e); }
      const p = e.renderedMidpoint(), r = cy.container().getBoundingClientRect();
      return { x: r.left + p.x, y: r.top + p.y, id: e.id() };
    }, [selector, i]);
    if (!pt) break;
    await page.mouse.click(pt.x, pt.y);
    const hit = await page.evaluate((id) => window.mapView.cy.getElementById(id).selected(), pt.id);
    if (hit) {
      await page.waitForFunction(() => document.querySelector("#details h3"), null, { timeout: 5000 });
      return pt.id;
    }
  }
  throw new Error("no line of " + selector + " could be clicked on its middle");
}

async function small(page, shots, out) {
  out.summary = await page.textContent("#summary");
  out.nodeLabels = await page.evaluate(() => window.mapView.cy.nodes().filter((n) => !n.isParent()).map((n) => n.data("label")));
  out.groups = await page.evaluate(() => window.mapView.cy.nodes().filter((n) => n.isParent()).map((n) => n.data("label")));
  out.edgeLabels = await page.evaluate(() => window.mapView.cy.edges().map((e) => ({ edge: e.source().id() + " → " + e.target().id(), text: e.data("label"), cls: e.classes() })));
  out.edgeCount = out.edgeLabels.length;
  out.nodesVisible = await page.evaluate(() => {
    const cy = window.mapView.cy, w = cy.width(), hgt = cy.height();
    return cy.nodes().every((n) => { const b = n.renderedBoundingBox(); return b.x1 >= 0 && b.y1 >= 0 && b.x2 <= w && b.y2 <= hgt; });
  });
  out.measure = await page.evaluate(measure);
  await page.screenshot({ path: `${shots}/map-graph.png` });
  // click the line carrying card data where a person would: on the drawn line itself
  await edgeMidpointClick(page, ".high");
  out.details = await page.textContent("#details");
  await page.screenshot({ path: `${shots}/map-details.png` });
  await page.click("#tab-table");
  await page.waitForSelector("#edges-table tbody tr");
  out.tableVisible = await page.isVisible("#edges-table");
  out.graphHidden = !(await page.isVisible("#graph"));
  out.rows = await page.$$eval("#edges-table tbody tr", (trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent.trim())));
  await page.screenshot({ path: `${shots}/map-table.png` });
  // filter by data type: only the edges with that type remain
  await page.selectOption("#f-type", "card_number");
  await page.waitForFunction(() => document.querySelectorAll("#edges-table tbody tr").length === 1, null, { timeout: 10000 });
  out.filteredRows = await page.$$eval("#edges-table tbody tr", (trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent.trim())));
}

// the drawing shows what the filters ask (a periodic refresh begun before the change may land first)
async function shown(page, filters) {
  const q = new URLSearchParams({ namespace: "", type: "", sensitivity: "", ...filters }).toString();
  await page.waitForFunction((x) => document.body.getAttribute("data-shown") === x, q, { timeout: 15000 });
}

async function big(page, shots, out) {
  out.summary = await page.textContent("#summary");
  const t0 = Date.now();
  await page.evaluate(() => window.mapView.runLayout(window.mapView.cy));
  out.layoutMs = Date.now() - t0;
  out.measure = await page.evaluate(measure);
  await page.screenshot({ path: `${shots}/map-100-graph.png` });
  // zoomed in as a reader would to read the lines' data types: the top left quarter at zoom 1
  await page.evaluate(() => { const cy = window.mapView.cy; cy.zoom(1); cy.pan({ x: 20, y: 20 }); });
  out.measureZoom1 = await page.evaluate(measure);
  await page.screenshot({ path: `${shots}/map-100-zoom.png` });
  await page.click("#fit");

  // search: one service; it, its lines and their other ends stay, the rest fades
  const target = await page.evaluate(() => window.mapView.cy.nodes(".workload").filter((n) => n.degree() >= 4)[0].data("label"));
  await page.fill("#f-search", target);
  await page.waitForFunction(() => window.mapView.cy.nodes(".match").length > 0, null, { timeout: 5000 });
  await page.waitForTimeout(300);
  out.search = await page.evaluate(() => {
    const cy = window.mapView.cy, m = cy.nodes(".match");
    const near = m.union(m.connectedEdges()).union(m.connectedEdges().connectedNodes());
    return { term: m[0].data("label"), matches: m.map((n) => n.id()), kept: cy.elements().not(".faded").filter((e) => !e.isParent()).length,
      keptIsNeighbourhood: cy.elements().not(".faded").filter((e) => !e.isParent()).every((e) => near.contains(e)),
      fadedOthers: cy.elements().filter((e) => !e.isParent() && !near.contains(e)).every((e) => e.hasClass("faded")) };
  });
  out.searchMeasure = await page.evaluate(measure);
  await page.screenshot({ path: `${shots}/map-100-search.png` });
  // drill-down: click one of the found service's lines on the line itself
  const clicked = await edgeMidpointClick(page, ".high, .medium, .low");
  out.clicked = clicked;
  out.drill = await page.evaluate((id) => {
    const e = window.mapView.cy.getElementById(id), key = e.data("key");
    const l = window.mapView.links().find((x) => x.key === key);
    return { heading: document.querySelector("#details h3").textContent, endpoints: l.edges.map((x) => `${x.method} ${x.path}`),
      samples: l.edges.flatMap((x) => x.fields.map((f) => f.sample)), text: document.querySelector("#details").textContent,
      selected: e.selected() };
  }, clicked);
  await page.screenshot({ path: `${shots}/map-100-details.png` });
  await page.fill("#f-search", "");
  await page.waitForFunction(() => window.mapView.cy.nodes(".match").length === 0, null, { timeout: 5000 });

  // filters, as a person uses them: the API answers, the graph is drawn again
  const ns = await page.$$eval("#f-namespace option", (os) => os.map((o) => o.value).filter(Boolean));
  out.namespaces = ns;
  await page.selectOption("#f-namespace", ns[1]);
  await shown(page, { namespace: ns[1] });
  out.nsFilter = await page.evaluate((n) => {
    const cy = window.mapView.cy;
    return { ns: n, nodes: cy.nodes().filter((x) => !x.isParent()).length, edges: cy.edges().length,
      everyEdgeTouches: cy.edges().every((e) => e.source().data("namespace") === n || e.target().data("namespace") === n) };
  }, ns[1]);
  out.nsMeasure = await page.evaluate(measure);
  await page.screenshot({ path: `${shots}/map-100-namespace.png` });
  await page.selectOption("#f-namespace", "");
  await page.selectOption("#f-sensitivity", "high");
  await shown(page, { sensitivity: "high" });
  await page.waitForFunction(() => window.mapView.cy.edges().length > 0 && window.mapView.cy.edges().every((e) => e.hasClass("high")), null, { timeout: 10000 });
  out.highFilter = await page.evaluate(() => ({ edges: window.mapView.cy.edges().length, allHigh: window.mapView.cy.edges().every((e) => e.hasClass("high")) }));
  await page.selectOption("#f-sensitivity", "");
  await page.selectOption("#f-type", "iban");
  await shown(page, { type: "iban" });
  await page.waitForFunction(() => window.mapView.cy.edges().length > 0 && window.mapView.cy.edges().every((e) => e.data("label").includes("IBAN")), null, { timeout: 10000 });
  out.typeFilter = await page.evaluate(() => ({ edges: window.mapView.cy.edges().length, rows: document.querySelectorAll("#edges-table tbody tr").length }));
}

(async () => {
  const [url, shots, mode] = process.argv.slice(2);
  const browser = await launch();
  const out = {};
  try {
    const { page, seen } = await watchedPage(browser, { width: 1600, height: 1000 });
    const errors = seen.errors, requests = seen.requests;
    await page.goto(url);
    await page.waitForSelector("body[data-loaded='1']", { timeout: 20000 });
    out.title = await page.title();
    out.urlAfterToken = page.url();
    if (mode === "big") await big(page, shots, out); else await small(page, shots, out);
    out.errors = errors;
    const origin = new URL(url).origin;
    out.foreignRequests = requests.filter((r) => !r.startsWith(origin) && !r.startsWith("data:"));
  } finally {
    await browser.close();
  }
  console.log(JSON.stringify(out));
})().catch((e) => { console.error(e); process.exit(1); });
