// Shared by the map page's Playwright scripts: Debian's chromium, headless, nothing fetched by the
// browser itself, and a page that records its script errors and every request it makes.
"use strict";
const { chromium } = require("playwright-core");

function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
           "--disable-sync", "--no-first-run"],
  });
}

async function watchedPage(browser, viewport) {
  const page = await browser.newPage({ viewport });
  const seen = { errors: [], requests: [] };
  page.on("pageerror", (e) => seen.errors.push(String(e)));
  page.on("console", (m) => { if (m.type() === "error") seen.errors.push(m.text()); });
  page.on("request", (r) => seen.requests.push(r.url()));
  return { page, seen };
}

module.exports = { launch, watchedPage };
