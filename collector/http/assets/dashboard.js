// Fleet dashboard: polls the collector's JSON endpoints every 2 s and redraws in place. Every value
// taken from the data goes into the DOM as text (textContent), never as HTML.
'use strict';

(() => {
  const REFRESH_MS = 2000;
  const FETCH_TIMEOUT_MS = 4000;
  // Optional endpoints (another collector version may not have them): after a 404, ask again
  // only this often.
  const OPTIONAL_RETRY_MS = 60000;

  // The stock panel lists the low items only (GET /v1/inventory filters and bounds them).
  const STOCK_PATH = '/v1/inventory?low=1&limit=50';
  // Replays (docs/replay.md): the latest ones, newest first.
  const REPLAYS_PATH = '/v1/replays?limit=20';

  const STATE_RANK = { offline: 0, stale: 1, online: 3 };
  const RULE_LABELS = {
    till_offline: 'offline',
    backlog_age: 'backlog old',
    clock_skew: 'clock skew',
    rejected_rising: 'rejects rising',
    database_rolled_back: 'disk rolled back',
    cert_expiry: 'certificate expiring',
  };

  const optional = {
    '/v1/stats': { data: null, missingUntil: 0 },
    '/v1/kpis': { data: null, missingUntil: 0 },
    [STOCK_PATH]: { data: null, missingUntil: 0 },
    [REPLAYS_PATH]: { data: null, missingUntil: 0 },
  };
  let fleet = null;
  let lastSuccess = 0;
  let failingSince = 0;
  let lastError = '';

  // ---- small DOM helpers (text only) ----
  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }
  function cell(tag, label, text, className) {
    const node = el(tag, className, text);
    if (label) node.dataset.label = label;
    return node;
  }
  const $ = (id) => document.getElementById(id);

  // ---- formatting ----
  const intFmt = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
  function int(value) {
    return typeof value === 'number' && Number.isFinite(value) ? intFmt.format(value) : '–';
  }
  function parseTime(text) {
    const ms = typeof text === 'string' ? Date.parse(text) : NaN;
    return Number.isFinite(ms) ? ms : null;
  }
  function duration(seconds) {
    if (typeof seconds !== 'number' || !Number.isFinite(seconds)) return '–';
    const s = Math.max(0, Math.round(seconds));
    if (s < 90) return `${s} s`;
    if (s < 5400) return `${Math.round(s / 60)} min`;
    if (s < 172800) return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
    return `${Math.floor(s / 86400)} d ${Math.round((s % 86400) / 3600)} h`;
  }
  // Age of `text` relative to the server's `generated_at`, so the browser's clock does not matter.
  function ago(text, nowMs) {
    const ms = parseTime(text);
    if (ms === null) return 'never';
    return `${duration((nowMs - ms) / 1000)} ago`;
  }
  function clockTime(ms) {
    return new Date(ms).toLocaleTimeString(undefined, { hour12: false });
  }
  function currencyFormatter(code) {
    try {
      const fmt = new Intl.NumberFormat(undefined, { style: 'currency', currency: code });
      const digits = fmt.resolvedOptions().maximumFractionDigits;
      return (minor) => (typeof minor === 'number' ? fmt.format(minor / 10 ** digits) : '–');
    } catch (e) {
      return (minor) => (typeof minor === 'number' ? `${int(minor)} (minor units)` : '–');
    }
  }

  // ---- fetching ----
  async function getJson(path) {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), FETCH_TIMEOUT_MS);
    try {
      const response = await fetch(path, {
        cache: 'no-store',
        headers: { Accept: 'application/json' },
        signal: controller.signal,
      });
      if (response.status === 404) return { missing: true };
      if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
      return { data: await response.json() };
    } catch (e) {
      if (e && e.name === 'AbortError') throw new Error(`${path}: no answer in ${FETCH_TIMEOUT_MS / 1000} s`);
      throw e;
    } finally {
      clearTimeout(timer);
    }
  }

  async function refreshOptional(path, now) {
    const slot = optional[path];
    if (slot.missingUntil > now) return;
    try {
      const result = await getJson(path);
      if (result.missing) {
        slot.data = null;
        slot.missingUntil = now + OPTIONAL_RETRY_MS;
      } else {
        slot.data = result.data;
      }
    } catch (e) {
      // The fleet fetch reports the connection state; keep the last data shown.
    }
  }

  async function refresh() {
    if (refreshing) {
      refreshAgain = true;
      return;
    }
    refreshing = true;
    clearTimeout(refreshTimer);
    const now = Date.now();
    const optionalDone = Promise.all(Object.keys(optional).map((p) => refreshOptional(p, now)));
    try {
      fleet = await fetchFleet();
      lastSuccess = Date.now();
      failingSince = 0;
      lastError = '';
    } catch (e) {
      if (!failingSince) failingSince = Date.now();
      lastError = e && e.message ? e.message : String(e);
    }
    await optionalDone;
    render();
    refreshing = false;
    if (refreshAgain) {
      refreshAgain = false;
      refresh();
    } else {
      refreshTimer = setTimeout(refresh, REFRESH_MS);
    }
  }

  // ---- large fleets (docs/dashboard.md, "Large fleets") ----
  // Up to FULL_FLEET_MAX tills every row is shown, as always. Above, healthy stores collapse to one
  // line each (from /v1/fleet/summary) and only problem tills, the stores the operator expanded
  // and the filter's matches are fetched (paged /v1/fleet): a few KB per refresh, not every row.
  const FULL_FLEET_MAX = 20;
  const ROWS_PAGE = 200; // problem tills or filter matches fetched per refresh
  const STORE_PAGE = 1000; // /v1/fleet's largest page: every till of an expanded store
  const FILTER_DELAY_MS = 250;
  let summary = null;
  let shown = null; // { mode: 'all' | 'problems' | 'filter', matched, listed }
  let refreshing = false;
  let refreshAgain = false;
  let refreshTimer = null;
  let filterTimer = null;
  const expanded = new Set();
  const filter = { q: '', state: '', alert: '' };

  function fleetPath(params) {
    const query = new URLSearchParams();
    for (const [name, value] of Object.entries(params)) if (value) query.set(name, String(value));
    return `/v1/fleet?${query}`;
  }

  // What one GET /v1/fleet used to give: the rows to show (tills), the alerts for the panel
  // (the summary's, critical first) and the alerts of the rows shown (rowAlerts).
  async function fetchFleet() {
    const s = await getJson('/v1/fleet/summary');
    if (s.missing || !s.data || !Array.isArray(s.data.stores)) throw new Error('/v1/fleet/summary: unexpected answer');
    const paths = [];
    let mode = 'problems';
    if (filter.q || filter.state || filter.alert) {
      mode = 'filter';
      paths.push(fleetPath({ q: filter.q, state: filter.state, alert: filter.alert, limit: ROWS_PAGE }));
    } else if (s.data.tills <= FULL_FLEET_MAX) {
      mode = 'all';
      paths.push('/v1/fleet');
    } else {
      paths.push(fleetPath({ problem: 'true', limit: ROWS_PAGE }));
      for (const store of expanded) paths.push(fleetPath({ store, limit: STORE_PAGE }));
    }
    const pages = await Promise.all(paths.map((p) => getJson(p)));
    const rows = new Map();
    const rowAlerts = new Map();
    for (const page of pages) {
      if (page.missing || !page.data || !Array.isArray(page.data.tills)) throw new Error('/v1/fleet: unexpected answer');
      for (const till of page.data.tills) rows.set(`${till.store_id}\u0000${till.till_id}`, till);
      for (const a of page.data.alerts || []) rowAlerts.set(`${a.store_id}\u0000${a.till_id}\u0000${a.rule}`, a);
    }
    const first = pages[0].data;
    summary = s.data;
    shown = { mode, matched: typeof first.matched === 'number' ? first.matched : first.tills.length, listed: first.tills.length };
    return { generated_at: first.generated_at, tills: [...rows.values()], alerts: s.data.alerts || [], rowAlerts: [...rowAlerts.values()] };
  }

  function storeLine(store) {
    return summary && Array.isArray(summary.stores) ? summary.stores.find((s) => s.store_id === store) : undefined;
  }

  function storeTillsText(store, listed) {
    const line = shown && shown.mode === 'problems' ? storeLine(store) : undefined;
    if (!line || line.tills === listed) return `${listed} till${listed === 1 ? '' : 's'}`;
    return `${listed} of ${line.tills} tills shown`;
  }

  function storeToggle(store) {
    const open = expanded.has(store);
    const button = el('button', 'store-toggle', `Store ${store}`);
    button.type = 'button';
    button.setAttribute('aria-expanded', String(open));
    button.title = open ? 'Show only the tills that need attention' : 'Show every till of this store';
    button.addEventListener('click', () => {
      if (open) expanded.delete(store);
      else expanded.add(store);
      refresh();
    });
    return button;
  }

  // One line per store that has no row shown (healthy, not expanded): "Store S001 10/10 online".
  function appendCollapsedStores(table, listedStores) {
    if (!shown || shown.mode !== 'problems' || !summary) return 0;
    let count = 0;
    for (const line of summary.stores) {
      if (listedStores.has(line.store_id)) continue;
      const body = el('tbody', 'store-collapsed');
      body.dataset.store = line.store_id;
      const head = el('tr', 'store-row');
      const th = el('th');
      th.colSpan = 12;
      th.scope = 'rowgroup';
      const healthy = line.online === line.tills;
      th.append(storeToggle(line.store_id),
        el('span', `store-note${healthy ? ' ok' : ''}`, `${int(line.online)}/${int(line.tills)} online`));
      head.append(th);
      body.append(head);
      table.append(body);
      count += 1;
    }
    // Healthy stores, collapsed or expanded, in store order after every store with a problem.
    const healthy = [...table.tBodies].filter((b) => b.classList.contains('store-collapsed') || b.dataset.rank === '3');
    healthy.sort((a, b) => (a.dataset.store < b.dataset.store ? -1 : a.dataset.store > b.dataset.store ? 1 : 0));
    for (const body of healthy) table.append(body);
    return count;
  }

  function renderFleetNote() {
    const note = $('fleet-note');
    let text = '';
    if (shown && shown.mode === 'filter') {
      text = shown.matched === 0 ? 'No till matches the filter.'
        : `${int(shown.matched)} till${shown.matched === 1 ? '' : 's'} match` +
          (shown.matched > shown.listed ? `; the first ${int(shown.listed)} are shown: narrow the filter.` : '.');
    } else if (shown && shown.mode === 'problems' && summary) {
      const problems = summary.counts ? summary.counts.problem : 0;
      text = `${int(summary.tills)} tills in ${int(summary.stores.length)} stores; ` +
        `${int(problems)} need${problems === 1 ? 's' : ''} attention` +
        (problems > shown.listed ? ` (the first ${int(shown.listed)} are listed: use the filter)` : '') +
        '. Click a store to show its tills.';
    }
    note.textContent = text;
    note.hidden = !text;
  }

  function setUpFilter() {
    const form = $('fleet-filter');
    if (!form) return;
    const alertSelect = $('fleet-alert');
    for (const [rule, label] of Object.entries(RULE_LABELS)) {
      const option = el('option', '', label);
      option.value = rule;
      alertSelect.append(option);
    }
    const apply = () => {
      filter.q = $('fleet-search').value.trim();
      filter.state = $('fleet-state').value;
      filter.alert = alertSelect.value;
      refresh();
    };
    $('fleet-search').addEventListener('input', () => {
      clearTimeout(filterTimer);
      filterTimer = setTimeout(apply, FILTER_DELAY_MS);
    });
    $('fleet-state').addEventListener('change', apply);
    alertSelect.addEventListener('change', apply);
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      apply();
    });
    form.addEventListener('reset', () => setTimeout(apply, 0));
  }

  // ---- rendering ----
  function render() {
    renderConnection();
    if (!fleet) return;
    const nowMs = parseTime(fleet.generated_at) ?? Date.now();
    const alerts = Array.isArray(fleet.alerts) ? fleet.alerts : [];
    renderTiles(fleet.tills, alerts);
    renderAlerts(alerts, nowMs);
    renderFleet(fleet.tills, Array.isArray(fleet.rowAlerts) ? fleet.rowAlerts : alerts, nowMs);
    renderSales(optional['/v1/kpis'].data);
    renderStock(optional[STOCK_PATH].data, nowMs);
    renderReplays(optional[REPLAYS_PATH].data, nowMs);
  }

  function renderConnection() {
    const banner = $('connection');
    const asOf = $('as-of');
    if (fleet) {
      const generated = parseTime(fleet.generated_at);
      asOf.textContent = `Data as of ${generated ? clockTime(generated) : '?'} · refreshes every ${REFRESH_MS / 1000} s`;
    }
    if (failingSince) {
      const last = lastSuccess ? `last answer at ${clockTime(lastSuccess)}` : 'no answer yet';
      banner.textContent = `The collector is not answering (${lastError}); ${last}. Figures below may be out of date. Retrying…`;
      banner.hidden = false;
      document.body.classList.add('disconnected');
    } else {
      banner.hidden = true;
      document.body.classList.remove('disconnected');
    }
  }

  function tile(label, value, tone) {
    const node = el('div', `tile${tone ? ` ${tone}` : ''}`);
    node.append(el('div', 'label', label), el('div', 'value', value));
    return node;
  }

  function renderTiles(tills, alerts) {
    const count = { online: 0, offline: 0, stale: 0 };
    let published = 0;
    let duplicates = 0;
    let backlog = 0;
    for (const till of tills) {
      if (till.state in count) count[till.state] += 1;
      published += Number(till.published_total) || 0;
      duplicates += Number(till.duplicates_total) || 0;
      backlog += Number(till.backlog_events) || 0;
    }
    const alertTotal = summary && typeof summary.alerts_total === 'number' ? summary.alerts_total : alerts.length;
    if (summary && summary.counts) {
      Object.assign(count, { online: summary.counts.online, offline: summary.counts.offline, stale: summary.counts.stale });
      published = Number(summary.published_total) || 0;
      duplicates = Number(summary.duplicates_total) || 0;
      backlog = Number(summary.backlog_events) || 0;
    }
    const stats = optional['/v1/stats'].data;
    if (stats) {
      if (typeof stats.events_published === 'number') published = stats.events_published;
      if (typeof stats.events_duplicate === 'number') duplicates = stats.events_duplicate;
    }
    const critical = alerts.some((a) => a.severity === 'critical');
    const tiles = [
      tile('Tills online', int(count.online), 'ok'),
      tile('Tills offline', int(count.offline), count.offline ? 'bad' : ''),
      tile('Tills stale', int(count.stale), count.stale ? 'warn' : ''),
      tile('Active alerts', int(alertTotal), alertTotal ? (critical ? 'bad' : 'warn') : ''),
      tile('Events published', int(published)),
      tile('Duplicates dropped', int(duplicates)),
      tile('Backlog (events)', int(backlog), backlog ? 'warn' : ''),
    ];
    if (stats) {
      const ms = (v) => (typeof v === 'number' ? `${v.toFixed(v < 10 ? 1 : 0)} ms` : '–');
      tiles.push(tile('Latency p50', ms(stats.latency_p50_ms)));
      tiles.push(tile('Latency p99', ms(stats.latency_p99_ms)));
      const ratio = stats.compression_ratio;
      tiles.push(tile('Compression', typeof ratio === 'number' ? `${ratio.toFixed(1)}×` : '–'));
    }
    $('tiles').replaceChildren(...tiles);
  }

  function renderAlerts(alerts, nowMs) {
    $('alert-count').textContent = alerts.length ? `(${alerts.length})` : '';
    const sorted = [...alerts].sort(
      (a, b) => (a.severity === 'critical' ? 0 : 1) - (b.severity === 'critical' ? 0 : 1) ||
        String(a.store_id).localeCompare(String(b.store_id)) ||
        String(a.till_id).localeCompare(String(b.till_id)));
    const items = sorted.map((a) => {
      const li = el('li', a.severity === 'critical' ? 'critical' : 'warning');
      li.append(
        el('span', 'where', `${a.store_id} / ${a.till_id}`),
        el('span', `badge ${a.severity === 'critical' ? 'critical' : ''}`, RULE_LABELS[a.rule] || a.rule),
        el('span', 'message', a.message),
        el('span', 'since', `since ${ago(a.since, nowMs)}`));
      return li;
    });
    if (!items.length) items.push(el('li', 'none', 'No active alerts.'));
    if (summary && summary.alerts_total > alerts.length) {
      items.push(el('li', 'more', `…and ${int(summary.alerts_total - alerts.length)} more: filter the tills by alert below.`));
    }
    $('alerts').replaceChildren(...items);
  }

  // Lower is worse: offline, stale, alerting (critical, warning), fine.
  function tillRank(till, alertsOf) {
    const own = alertsOf.get(`${till.store_id}\u0000${till.till_id}`) || [];
    if (till.state === 'offline') return 0;
    if (till.state === 'stale') return 1;
    if (own.some((a) => a.severity === 'critical')) return 1;
    if (own.length) return 2;
    return STATE_RANK[till.state] ?? 3;
  }

  function renderFleet(tills, alerts, nowMs) {
    const alertsOf = new Map();
    for (const a of alerts) {
      const key = `${a.store_id}\u0000${a.till_id}`;
      if (!alertsOf.has(key)) alertsOf.set(key, []);
      alertsOf.get(key).push(a);
    }
    const stores = new Map();
    for (const till of tills) {
      if (!stores.has(till.store_id)) stores.set(till.store_id, []);
      stores.get(till.store_id).push({ till, rank: tillRank(till, alertsOf) });
    }
    const groups = [...stores.entries()].map(([store, rows]) => {
      rows.sort((a, b) => a.rank - b.rank || String(a.till.till_id).localeCompare(String(b.till.till_id)));
      return { store, rows, rank: Math.min(...rows.map((r) => r.rank)) };
    });
    groups.sort((a, b) => a.rank - b.rank || String(a.store).localeCompare(String(b.store)));

    const table = $('fleet');
    for (const body of [...table.tBodies]) body.remove();
    for (const group of groups) {
      const body = el('tbody');
      body.dataset.store = group.store;
      body.dataset.rank = String(group.rank);
      const head = el('tr', 'store-row');
      const th = el('th', '', shown && shown.mode === 'problems' ? '' : `Store ${group.store}`);
      th.colSpan = 12;
      th.scope = 'rowgroup';
      const problems = group.rows.filter((r) => r.rank < 3).length;
      if (shown && shown.mode === 'problems') th.append(storeToggle(group.store));
      th.append(el('span', 'store-note',
        `${storeTillsText(group.store, group.rows.length)}` +
        (problems ? `, ${problems} need${problems === 1 ? 's' : ''} attention` : '')));
      head.append(th);
      body.append(head);
      for (const { till, rank } of group.rows) {
        body.append(tillRow(till, alertsOf.get(`${till.store_id}\u0000${till.till_id}`) || [], rank, nowMs));
      }
      table.append(body);
    }
    const collapsed = appendCollapsedStores(table, new Set(groups.map((g) => g.store)));
    $('fleet-empty').hidden = tills.length > 0 || collapsed > 0 || (shown && shown.mode === 'filter');
    renderFleetNote();
  }

  function tillRow(till, own, rank, nowMs) {
    const tr = el('tr', `till-row${rank <= 1 ? ' problem' : rank === 2 ? ' warning' : ''}`);
    tr.dataset.store = till.store_id;
    tr.dataset.till = till.till_id;
    tr.dataset.state = till.state;
    const state = cell('td', 'State');
    state.append(el('span', `state ${['online', 'offline', 'stale'].includes(till.state) ? till.state : ''}`, till.state));
    const lastSeen = cell('td', 'Last seen', ago(till.last_seen, nowMs));
    if (till.last_seen) lastSeen.title = till.last_seen;
    const lastAck = cell('td', 'Last ack', ago(till.last_ack_at, nowMs));
    if (till.last_ack_at) lastAck.title = till.last_ack_at;
    const badges = cell('td', 'Alerts');
    badges.classList.add('alert-cell');
    for (const a of own) {
      const badge = el('span', `badge ${a.severity === 'critical' ? 'critical' : ''}`, RULE_LABELS[a.rule] || a.rule);
      badge.dataset.rule = a.rule;
      badge.title = a.message;
      badges.append(badge);
    }
    tr.append(
      cell('td', 'Till', `${till.store_id} / ${till.till_id}`),
      state,
      lastSeen,
      cell('td', 'Backlog', int(till.backlog_events), 'num'),
      cell('td', 'Oldest unacked', till.oldest_unacked_age_s === null ? '–' : duration(till.oldest_unacked_age_s), 'num'),
      lastAck,
      cell('td', 'Version', till.agent_version || '–'),
      cell('td', 'Published', int(till.published_total), 'num'),
      cell('td', 'Duplicates', int(till.duplicates_total), 'num'),
      cell('td', 'Rejected', int(till.rejected_total), 'num'),
      epochCell(till),
      badges);
    return tr;
  }

  // The till's newest epoch (a new one means a new database on the till: reinstalled, or a
  // restored disk); how many it started, and how many batches of a further one were refused.
  function epochCell(till) {
    const total = Number(till.epochs_total) || 0;
    const refused = Number(till.epochs_refused_total) || 0;
    let text = till.epoch ? String(till.epoch).slice(0, 8) : '–';
    if (total > 1) text += ` (${total})`;
    if (refused > 0) text += ` ${int(refused)} refused`;
    const td = cell('td', 'Epoch', text);
    if (till.epoch) {
      td.title = `epoch ${till.epoch}, started ${till.epoch_started_at || '?'}; ${total} in all`;
    }
    return td;
  }

  function bars(container, rows, nameOf, valueOf, textOf, fillClass) {
    const max = Math.max(1, ...rows.map((r) => Math.abs(Number(valueOf(r)) || 0)));
    const out = rows.map((r) => {
      const value = Number(valueOf(r)) || 0;
      const row = el('div', 'bar-row');
      const track = el('div', 'track');
      const fill = el('div', `fill ${fillClass || ''}${value < 0 ? ' negative' : ''}`);
      fill.style.width = `${(Math.abs(value) / max) * 100}%`;
      track.append(fill);
      row.append(el('span', 'name', nameOf(r)), track, el('span', 'amount', textOf(r)));
      return row;
    });
    if (!out.length) out.push(el('p', 'empty', 'No sales yet today.'));
    $(container).replaceChildren(...out);
  }

  function renderSales(kpis) {
    const section = $('sales');
    const missing = $('sales-missing');
    if (!kpis || typeof kpis !== 'object') {
      section.hidden = true;
      missing.hidden = false;
      return;
    }
    section.hidden = false;
    missing.hidden = true;
    const money = currencyFormatter(kpis.currency || 'IDR');
    const list = (v) => (Array.isArray(v) ? v : []);
    const byGmv = (a, b) => (Number(b.gmv_minor) || 0) - (Number(a.gmv_minor) || 0);
    $('sales-day').textContent = `${kpis.day || ''} · ${kpis.currency || ''}`;
    const t = kpis.totals || {};
    const marginPct = t.gmv_minor ? `${((100 * (Number(t.margin_minor) || 0)) / t.gmv_minor).toFixed(1)} %` : '–';
    $('sales-tiles').replaceChildren(
      tile('GMV', money(t.gmv_minor)),
      tile('Units', int(t.units)),
      tile('Transactions', int(t.transactions)),
      tile('Returns', int(t.returns)),
      tile('Gross margin', money(t.margin_minor)),
      tile('Margin %', marginPct));
    const gmvText = (r) => `${money(r.gmv_minor)} · ${int(r.units)} u`;
    bars('by-store', list(kpis.by_store).sort(byGmv), (r) => r.store_id, (r) => r.gmv_minor, gmvText);
    bars('by-category', list(kpis.by_category).sort(byGmv), (r) => r.category, (r) => r.gmv_minor, gmvText);
    bars('by-customer', list(kpis.by_customer_type).sort(byGmv), (r) => r.customer_type, (r) => r.gmv_minor, gmvText);
    bars('margin', list(kpis.by_category).sort((a, b) => (Number(b.margin_minor) || 0) - (Number(a.margin_minor) || 0)),
      (r) => r.category, (r) => r.margin_minor,
      (r) => `${money(r.margin_minor)} · ${typeof r.margin_pct === 'number' ? r.margin_pct.toFixed(1) : '–'} %`,
      'margin');
    const rows = list(kpis.latest).slice(0, 50).map((e) => {
      const tr = el('tr');
      const when = parseTime(e.occurred_at);
      tr.append(
        cell('td', 'Time', when ? clockTime(when) : e.occurred_at),
        cell('td', 'Till', `${e.store_id} / ${e.till_id}`),
        cell('td', 'Type', e.type),
        cell('td', 'Customer', e.customer_type || '–'),
        cell('td', 'Units', int(e.units), 'num'),
        cell('td', 'Amount', money(e.amount_minor), 'num'),
        cell('td', 'Event id', e.pos_event_id));
      return tr;
    });
    $('latest-body').replaceChildren(...rows);
  }

  // Replays a till was asked for: the range, the till's progress, or why it refused.
  function renderReplays(doc, nowMs) {
    const section = $('replays');
    const replays = doc && Array.isArray(doc.replays) ? doc.replays : [];
    section.hidden = replays.length === 0;
    if (!replays.length) return;
    const rows = replays.map((r) => {
      const p = r.progress || {};
      const range = p.to_seq ? `seqs ${p.from_seq}..${p.to_seq}`
        : r.from_seq !== undefined ? `seqs ${r.from_seq}..${r.to_seq}`
          : r.from ? `${r.from} .. ${r.to}` : '–';
      const total = Number(p.events_total) || 0;
      const done = Number(p.events_replayed) || 0;
      const tr = el('tr', r.state === 'refused' ? 'replay-refused' : '');
      tr.append(
        cell('td', 'Till', `${r.store_id} / ${r.till_id}`),
        cell('td', 'Replay', r.id),
        cell('td', 'State', r.state),
        cell('td', 'Range', range),
        cell('td', 'Progress', total ? `${int(done)} / ${int(total)} events` : '–', 'num'),
        cell('td', 'Updated', r.updated_at ? ago(r.updated_at, nowMs) : '–'),
        cell('td', 'Reason', r.error || ''));
      return tr;
    });
    $('replays-body').replaceChildren(...rows);
  }

  // Low-stock alerts look like the fleet's; the table lists the low items (worst first).
  function renderStock(inventory, nowMs) {
    const section = $('stock');
    if (!inventory || !Array.isArray(inventory.items)) {
      section.hidden = true;
      return;
    }
    section.hidden = false;
    const low = Number(inventory.low_items_total) || 0;
    $('stock-summary').textContent =
      `${int(inventory.items_total)} items tracked · ${int(low)} low` +
      (inventory.truncated ? ` (first ${inventory.items.length} shown)` : '');
    const alerts = Array.isArray(inventory.alerts) ? inventory.alerts : [];
    const sorted = [...alerts].sort(
      (a, b) => (a.severity === 'critical' ? 0 : 1) - (b.severity === 'critical' ? 0 : 1) ||
        String(a.store_id).localeCompare(String(b.store_id)) ||
        String(a.sku).localeCompare(String(b.sku)));
    const items = sorted.map((a) => {
      const li = el('li', a.severity === 'critical' ? 'critical' : 'warning');
      li.append(
        el('span', 'where', `${a.store_id} / ${a.sku}`),
        el('span', `badge ${a.severity === 'critical' ? 'critical' : ''}`,
          a.severity === 'critical' ? 'out of stock' : 'low stock'),
        el('span', 'message', a.message),
        el('span', 'since', `since ${ago(a.since, nowMs)}`));
      return li;
    });
    if (!items.length) items.push(el('li', 'none', 'No item is low on stock.'));
    $('stock-alerts').replaceChildren(...items);
    const rows = [...inventory.items]
      .sort((a, b) => (Number(a.on_hand) - Number(a.threshold)) - (Number(b.on_hand) - Number(b.threshold)))
      .map((i) => {
        const tr = el('tr', i.low ? 'stock-low' : '');
        tr.append(
          cell('td', 'Store', i.store_id),
          cell('td', 'SKU', i.sku),
          cell('td', 'Category', i.category || '–'),
          cell('td', 'On hand', int(i.on_hand), 'num'),
          cell('td', 'Floor', int(i.floor), 'num'),
          cell('td', 'Backroom', int(i.backroom), 'num'),
          cell('td', 'Warehouse', int(i.warehouse), 'num'),
          cell('td', 'Threshold', int(i.threshold), 'num'),
          cell('td', 'Low since', i.low_since ? ago(i.low_since, nowMs) : '–'));
        return tr;
      });
    $('stock-body').replaceChildren(...rows);
  }

  setUpFilter();
  refresh();
})();
