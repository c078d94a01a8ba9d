#!/usr/bin/env node
// Drives headless chromium (Debian's, through playwright-core) against a poscollector that knows
// a fleet of thousands of tills, exactly one of them offline. Started by
// fleet_scale_browser_test.cpp, which owns the processes. Prints the time to the first complete
// render; checks that the offline till is the first problem row at the top, that healthy stores
// are collapsed to one line each and expand on click, and that the filter finds a store, a state
// and nothing. Exits 0 when every check passed, 1 (with the reason) otherwise.
'use strict';

const path = require('path');

function parseArgs(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i += 2) {
    if (!argv[i].startsWith('--') || argv[i + 1] === undefined) throw new Error(`bad argument ${argv[i]}`);
    out[argv[i].slice(2)] = argv[i + 1];
  }
  for (const key of ['url', 'chromium', 'tills', 'offline-till', 'filter-store', 'artifacts']) {
    if (!out[key]) throw new Error(`missing --${key}`);
  }
  return out;
}

let playwright;
try {
  playwright = require('playwright-core');
} catch (e) {
  console.error(`FAIL: playwright-core is not installed next to ${__filename}: run \`npm ci\` in ${__dirname}`);
  process.exit(1);
}

const args = parseArgs(process.argv.slice(2));
const [offlineStore, offlineTill] = args['offline-till'].split('/');
const filterStore = args['filter-store'];
// Generous: catches a page that hangs or crawls, not a benchmark (docs/benchmarks.md has those).
const LOAD_BOUND_MS = 30000;
const started = Date.now();
const log = (msg) => console.log(`[${((Date.now() - started) / 1000).toFixed(1)} s] ${msg}`);

function check(condition, message) {
  if (!condition) throw new Error(message);
}

const tillRows = (page, selector = '') => page.$$eval(`#fleet tr.till-row${selector}`,
  (rows) => rows.map((r) => `${r.dataset.store}/${r.dataset.till}/${r.dataset.state}`));

async function main() {
  const errors = [];
  const browser = await playwright.chromium.launch({
    executablePath: args.chromium,
    headless: true,
    args: ['--no-sandbox'],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1366, height: 900 } });
    page.on('console', (msg) => { if (msg.type() === 'error') errors.push(`console: ${msg.text()}`); });
    page.on('pageerror', (err) => errors.push(`page error: ${err.message}`));

    // Load: navigation start to the first complete render (tiles, the problem row, the collapsed
    // stores), measured by the page's own clock.
    const navigated = Date.now();
    const response = await page.goto(args.url, { waitUntil: 'load' });
    check(response && response.status() === 200, `GET ${args.url}: ${response && response.status()}`);
    const rendered = await page.waitForFunction(() => {
      const ready = document.querySelector('#fleet tr.till-row') &&
        document.querySelector('#fleet tbody.store-collapsed') &&
        /Tills online/.test(document.querySelector('#tiles').textContent);
      return ready ? performance.now() : null;
    }, null, { timeout: LOAD_BOUND_MS, polling: 20 });
    const renderMs = await rendered.jsonValue();
    log(`measured: first complete render ${Math.round(renderMs)} ms after navigation start ` +
      `(${Date.now() - navigated} ms wall in the test) with ${args.tills} tills`);
    check(renderMs < LOAD_BOUND_MS, `first render took ${renderMs} ms`);

    // The offline till: the first row of the first store group.
    const firstStore = await page.$eval('#fleet tbody', (n) => n.dataset.store);
    check(firstStore === offlineStore, `first store group is ${firstStore}, expected ${offlineStore}`);
    const rows = await tillRows(page);
    check(rows[0] === `${offlineStore}/${offlineTill}/offline`, `first till row: ${rows[0]}`);
    check(rows.length < 50, `${rows.length} till rows shown: healthy tills are not collapsed`);
    const tiles = await page.textContent('#tiles');
    check(/Tills offline\s*1(?!\d)/.test(tiles.replace(/\u00a0/g, ' ')), `tiles: ${tiles}`);

    // Healthy stores: one collapsed line each.
    const collapsed = await page.$$eval('#fleet tbody.store-collapsed', (bodies) => bodies.map((b) => b.textContent));
    const stores = Math.ceil(Number(args.tills) / 10);
    check(collapsed.length >= stores - rows.length && collapsed.length < stores,
      `${collapsed.length} collapsed stores for ${stores} stores`);
    check(/10\/10 online/.test(collapsed[0]), `collapsed line: ${collapsed[0]}`);
    const note = await page.textContent('#fleet-note');
    check(/need/.test(note), `fleet note: ${note}`);
    await page.screenshot({ path: path.join(args.artifacts, 'fleet-5000.png') });
    log(`offline till ${args['offline-till']} first; ${collapsed.length} stores collapsed; ${rows.length} till rows`);

    // Expand a healthy store on click, collapse it again.
    const store = await page.$eval('#fleet tbody.store-collapsed', (b) => b.dataset.store);
    await page.click(`#fleet tbody.store-collapsed[data-store="${store}"] .store-toggle`);
    await page.waitForFunction((s) => document.querySelectorAll(`#fleet tr.till-row[data-store="${s}"]`).length === 10,
      store, { timeout: 10000 });
    await page.click(`#fleet tbody[data-store="${store}"] .store-toggle`);
    await page.waitForSelector(`#fleet tbody.store-collapsed[data-store="${store}"]`, { timeout: 10000 });
    log(`store ${store} expanded to 10 tills and collapsed again`);

    // Filter by store: only its tills.
    await page.fill('#fleet-search', filterStore);
    await page.waitForFunction((s) => {
      const found = [...document.querySelectorAll('#fleet tr.till-row')];
      return found.length === 10 && found.every((r) => r.dataset.store === s);
    }, filterStore, { timeout: 10000 });
    check(/10 tills match/.test(await page.textContent('#fleet-note')), 'filter note');
    check((await page.$$('#fleet tbody.store-collapsed')).length === 0, 'collapsed stores while filtering');
    await page.screenshot({ path: path.join(args.artifacts, 'fleet-5000-filter.png') });
    // By state, with the store filter: nothing; without: the offline till.
    await page.selectOption('#fleet-state', 'offline');
    await page.waitForFunction(() => /No till matches/.test(document.querySelector('#fleet-note').textContent),
      null, { timeout: 10000 });
    await page.fill('#fleet-search', '');
    await page.waitForFunction((id) => {
      const found = [...document.querySelectorAll('#fleet tr.till-row')];
      return found.length === 1 && `${found[0].dataset.store}/${found[0].dataset.till}` === id;
    }, args['offline-till'], { timeout: 10000 });
    log('filter: by store, by state, no match');
    await page.click('#fleet-clear');
    await page.waitForSelector('#fleet tbody.store-collapsed', { timeout: 10000 });
    check(errors.length === 0, `errors:\n${errors.join('\n')}`);
  } finally {
    await browser.close();
  }
  console.log(`screenshot: ${path.join(args.artifacts, 'fleet-5000.png')}`);
  console.log(`screenshot: ${path.join(args.artifacts, 'fleet-5000-filter.png')}`);
}

const overall = setTimeout(() => {
  console.error('FAIL: fleet check took longer than 150 s');
  process.exit(1);
}, 150000);

main().then(() => {
  clearTimeout(overall);
  log('PASS');
}, (err) => {
  clearTimeout(overall);
  console.error(`FAIL: ${err && err.stack ? err.stack : err}`);
  process.exitCode = 1;
});
