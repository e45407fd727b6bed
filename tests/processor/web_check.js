// Drives Debian's chromium with playwright-core and reports what a person sees on the map page.
// usage: node web_check.js URL SCREENSHOT_DIR  -> prints one JSON object
"use strict";
const { chromium } = require("playwright-core");

(async () => {
  const [url, shots] = process.argv.slice(2);
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
           "--disable-sync", "--no-first-run"],
  });
  const out = {};
  try {
    const page = await browser.newPage({ viewport: { width: 1500, height: 900 } });
    const errors = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
    await page.goto(url);
    await page.waitForSelector("body[data-loaded='1']", { timeout: 15000 });
    await page.waitForSelector("#graph g.node", { timeout: 15000 });
    out.title = await page.title();
    out.summary = await page.textContent("#summary");
    out.nodeLabels = await page.$$eval("#graph text.node-label", (els) => els.map((e) => e.textContent));
    out.edgeLabels = await page.$$eval("#graph text.edge-label", (els) => els.map((e) => ({ edge: e.getAttribute("data-edge"), text: e.textContent })));
    out.edgeCount = await page.$$eval("#graph path.edge", (els) => els.length);
    // the labels must be on screen, not clipped away
    out.nodesVisible = await page.$$eval("#graph g.node", (els) => els.every((e) => { const r = e.getBoundingClientRect(); return r.width > 0 && r.top >= 0 && r.bottom <= window.innerHeight; }));
    await page.screenshot({ path: `${shots}/map-graph.png` });
    // click the edge carrying card data: the details panel lists the fields, masked
    const cardEdge = await page.$("#graph path.edge.high");
    if (cardEdge) {
      // click where a person would: on the drawn line itself (its midpoint), not on its bounding box
      const pt = await cardEdge.evaluate((e) => {
        const p = e.getPointAtLength(e.getTotalLength() / 2), m = e.getScreenCTM();
        return { x: p.x * m.a + m.e, y: p.y * m.d + m.f };
      });
      await page.mouse.click(pt.x, pt.y);
      await page.waitForFunction(() => document.querySelector("#details h3"), null, { timeout: 5000 });
      out.details = await page.textContent("#details");
      await page.screenshot({ path: `${shots}/map-details.png` });
    }
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
    out.errors = errors;
  } finally {
    await browser.close();
  }
  console.log(JSON.stringify(out));
})().catch((e) => { console.error(e); process.exit(1); });
