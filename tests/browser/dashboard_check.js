#!/usr/bin/env node
// Drives headless chromium (Debian's, through playwright-core) against a running poscollector's
// dashboard. Started by dashboard_browser_test.cpp, which owns the processes: this script asks it
// to stop a till's agent and then the collector by creating files in --signals and waits for the
// answering file. Exits 0 when every check passed, 1 (with the reason) otherwise.
'use strict';

const fs = require('fs');
const path = require('path');

function parseArgs(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i += 2) {
    if (!argv[i].startsWith('--') || argv[i + 1] === undefined) {
      throw new Error(`bad argument ${argv[i]}`);
    }
    out[argv[i].slice(2)] = argv[i + 1];
  }
  for (const key of ['url', 'chromium', 'tills', 'stop-till', 'offline-within-s', 'alert-within-s',
    'signals', 'artifacts']) {
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
const tills = args.tills.split(',');
const [stopStore, stopTill] = args['stop-till'].split('/');
const started = Date.now();
const log = (msg) => console.log(`[${((Date.now() - started) / 1000).toFixed(1)} s] ${msg}`);

function check(condition, message) {
  if (!condition) throw new Error(message);
}

async function handshake(request, answer, timeoutMs) {
  fs.writeFileSync(path.join(args.signals, request), 'please\n');
  const deadline = Date.now() + timeoutMs;
  while (!fs.existsSync(path.join(args.signals, answer))) {
    check(Date.now() < deadline, `no ${answer} within ${timeoutMs / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

// Console errors and page errors, by phase. A 404 for an optional endpoint (/v1/kpis, /v1/stats,
// /v1/inventory on
// a collector that does not have it yet) is expected and not an error of the page.
function watch(page, name, errors) {
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    const where = (msg.location() && msg.location().url) || '';
    const optional404 = /status of 404/.test(msg.text()) && /\/v1\/(kpis|stats|inventory)(\?.*)?$/.test(where);
    if (!optional404) errors.push(`${name} console: ${msg.text()} (${where})`);
  });
  page.on('pageerror', (err) => errors.push(`${name} page error: ${err.message}`));
  page.on('requestfailed', (req) => {
    const reason = (req.failure() && req.failure().errorText) || '';
    // Closing a page aborts its fetch in flight; that is not the page's fault.
    if (reason !== 'net::ERR_ABORTED') errors.push(`${name} request failed: ${req.url()} ${reason}`);
  });
}

const rowSelector = (id) => {
  const [store, till] = id.split('/');
  return `tr.till-row[data-store="${store}"][data-till="${till}"]`;
};

async function expectEveryTill(page, state) {
  for (const id of tills) {
    await page.waitForSelector(`${rowSelector(id)}[data-state="${state}"]`, { timeout: 15000 });
    const text = await page.textContent(rowSelector(id));
    check(text.includes(id.replace('/', ' / ')), `row of ${id} does not name it: ${text}`);
  }
  const rows = await page.$$('tr.till-row');
  check(rows.length === tills.length, `expected ${tills.length} till rows, found ${rows.length}`);
}

async function main() {
  const errors = [];
  const browser = await playwright.chromium.launch({
    executablePath: args.chromium,
    headless: true,
    // The test may run as root in a container, where chromium's sandbox cannot start.
    args: ['--no-sandbox'],
  });
  try {
    // Desktop.
    const desktop = await browser.newPage({ viewport: { width: 1366, height: 900 } });
    watch(desktop, 'desktop', errors);
    const response = await desktop.goto(args.url, { waitUntil: 'load' });
    check(response && response.status() === 200, `GET ${args.url}: ${response && response.status()}`);
    check(/Fastyle POS fleet/.test(await desktop.title()), 'page title');
    await expectEveryTill(desktop, 'online');
    const published = await desktop.textContent('#tiles');
    check(/Events published/.test(published), 'summary tiles missing');
    const asOf = await desktop.textContent('#as-of');
    check(/^Data as of /.test(asOf), `no "data as of": ${asOf}`);
    for (const id of tills) {
      const cells = await desktop.$$eval(`${rowSelector(id)} td`, (tds) => tds.map((td) => td.textContent));
      check(cells[7] === '5', `${id}: published ${cells[7]}, expected 5 (${cells.join(' | ')})`);
    }
    check(await desktop.isHidden('#connection'), 'connection warning shown while connected');
    // The stock panel: S01's DRS-9 is low (2 <= the default threshold 5), listed with its alert.
    await desktop.waitForSelector('#stock-body tr.stock-low', { timeout: 15000 });
    const lowRows = await desktop.$$eval('#stock-body tr', (trs) => trs.map((tr) => tr.textContent));
    check(lowRows.length === 1 && lowRows[0].includes('DRS-9-S-RED') && lowRows[0].includes('S01'),
      `stock panel low items: ${lowRows.join(' | ')}`);
    const stockAlerts = await desktop.textContent('#stock-alerts');
    check(/S01 \/ DRS-9-S-RED/.test(stockAlerts) && /low stock/.test(stockAlerts),
      `stock alerts: ${stockAlerts}`);
    check(/2 items tracked · 1 low/.test(await desktop.textContent('#stock-summary')),
      'stock summary');
    // The Replays panel: S02/T1's replay of seqs 1..3, done.
    await desktop.waitForSelector('#replays-body tr', { timeout: 15000 });
    const replayRows = await desktop.$$eval('#replays-body tr', (trs) => trs.map((tr) => tr.textContent));
    check(replayRows.length === 1 && /S02 \/ T1/.test(replayRows[0]) && /done/.test(replayRows[0]) &&
      /3 \/ 3 events/.test(replayRows[0]), `replays panel: ${replayRows.join(' | ')}`);
    await desktop.screenshot({ path: path.join(args.artifacts, 'dashboard-desktop.png'), fullPage: true });
    await (await desktop.$('#stock')).screenshot({ path: path.join(args.artifacts, 'dashboard-stock.png') });
    log('desktop: every till online, the stock panel shows the low item');

    // Phone: the table collapses to labelled cards.
    const phoneContext = await browser.newContext({
      viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true,
    });
    const phone = await phoneContext.newPage();
    watch(phone, 'phone', errors);
    await phone.goto(args.url, { waitUntil: 'load' });
    await expectEveryTill(phone, 'online');
    const headDisplay = await phone.$eval('#fleet thead', (n) => getComputedStyle(n).display);
    check(headDisplay === 'none', `phone: table head still shown (display ${headDisplay})`);
    const scrollWidth = await phone.evaluate(() => document.documentElement.scrollWidth);
    check(scrollWidth <= 390, `phone: page is ${scrollWidth} px wide, wider than the screen`);
    await phone.screenshot({ path: path.join(args.artifacts, 'dashboard-phone.png') });
    await phone.screenshot({ path: path.join(args.artifacts, 'dashboard-phone-full.png'), fullPage: true });
    await phoneContext.close();
    log('phone: cards, no horizontal scroll');

    check(errors.length === 0, `errors while loading:\n${errors.join('\n')}`);

    // Stop one till's agent; the open page must show it offline by itself (no reload).
    await desktop.evaluate(() => { window.__noReload = true; });
    await handshake('stop-agent', 'agent-stopped', 30000);
    const stoppedAt = Date.now();
    const stopped = rowSelector(args['stop-till']);
    await desktop.waitForSelector(`${stopped}[data-state="offline"]`, {
      timeout: Number(args['offline-within-s']) * 1000,
    });
    log(`${args['stop-till']} shown offline ${((Date.now() - stoppedAt) / 1000).toFixed(1)} s after SIGTERM`);
    check(await desktop.evaluate(() => window.__noReload === true), 'the page reloaded');
    const firstStore = await desktop.$eval('#fleet tbody', (n) => n.dataset.store);
    check(firstStore === stopStore, `store with the offline till is not first (first: ${firstStore})`);
    const offlineText = await desktop.textContent(`${stopped} .state`);
    check(offlineText === 'offline', `state text: ${offlineText}`);
    for (const id of tills.filter((t) => t !== args['stop-till'])) {
      const state = await desktop.getAttribute(rowSelector(id), 'data-state');
      check(state === 'online', `${id} is ${state}, expected online`);
    }

    await desktop.waitForSelector(`${stopped} .badge[data-rule="till_offline"]`, {
      timeout: Number(args['alert-within-s']) * 1000,
    });
    const alertList = await desktop.textContent('#alerts');
    check(alertList.includes(`${stopStore} / ${stopTill}`), `alert list: ${alertList}`);
    log(`till_offline alert shown ${((Date.now() - stoppedAt) / 1000).toFixed(1)} s after SIGTERM`);
    await desktop.screenshot({ path: path.join(args.artifacts, 'dashboard-desktop-offline.png'), fullPage: true });
    check(errors.length === 0, `errors while the till went offline:\n${errors.join('\n')}`);

    // Stop the collector: the page must say it is not answering (network errors expected now).
    await handshake('stop-collector', 'collector-stopped', 30000);
    await desktop.waitForSelector('#connection', { state: 'visible', timeout: 15000 });
    const banner = await desktop.textContent('#connection');
    check(/not answering/.test(banner), `banner: ${banner}`);
    await desktop.screenshot({ path: path.join(args.artifacts, 'dashboard-disconnected.png'), fullPage: true });
    log('collector stopped: warning shown');
  } finally {
    await browser.close();
  }
  for (const name of ['dashboard-desktop.png', 'dashboard-phone.png', 'dashboard-phone-full.png',
    'dashboard-desktop-offline.png', 'dashboard-disconnected.png']) {
    console.log(`screenshot: ${path.join(args.artifacts, name)}`);
  }
}

const overall = setTimeout(() => {
  console.error('FAIL: browser check took longer than 240 s');
  process.exit(1);
}, 240000);

main().then(() => {
  clearTimeout(overall);
  log('PASS');
}, (err) => {
  clearTimeout(overall);
  console.error(`FAIL: ${err && err.stack ? err.stack : err}`);
  process.exitCode = 1;
});
