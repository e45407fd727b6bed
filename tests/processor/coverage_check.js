// The map page's coverage parts as a person sees them (headless chromium via playwright-core).
// usage: node coverage_check.js URL SCREENSHOT_DIR  -> prints one JSON object
"use strict";
const { launch, watchedPage } = require("./browser.js");

(async () => {
  const [url, shots] = process.argv.slice(2);
  const browser = await launch();
  const out = {};
  try {
    const { page, seen } = await watchedPage(browser, { width: 1500, height: 900 });
    const errors = seen.errors;
    await page.goto(url);
    await page.waitForSelector("body[data-loaded='1']", { timeout: 15000 });
    await page.waitForFunction(() => window.mapView && window.mapView.cy && window.mapView.cy.edges(".unread").length > 0,
                               null, { timeout: 15000 });
    out.unread = await page.evaluate(() => window.mapView.cy.edges(".unread").map((e) => ({
      src: e.source().id(), dst: e.target().id(), style: e.style("line-style"), label: e.data("label") })));
    out.nodeLabels = await page.evaluate(() => window.mapView.cy.nodes().filter((n) => !n.isParent()).map((n) => n.data("label")));
    await page.screenshot({ path: `${shots}/coverage-graph.png` });
    await page.click("#tab-coverage");
    await page.waitForSelector("#coverage-workloads tbody tr");
    out.coverageVisible = await page.isVisible("#coverage-view");
    const rows = (id) => page.$$eval(`#${id} tbody tr`, (trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent.trim())));
    out.workloads = await rows("coverage-workloads");
    out.namespaces = await rows("coverage-namespaces");
    out.flows = await rows("coverage-flows");
    await page.screenshot({ path: `${shots}/coverage-table.png` });
    out.errors = errors;
  } finally {
    await browser.close();
  }
  console.log(JSON.stringify(out));
})().catch((e) => { console.error(e); process.exit(1); });
