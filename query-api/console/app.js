// vigie's console: plain JavaScript, no framework, no outside file. Every
// figure comes from the API with the key the person entered; the key is kept
// in sessionStorage (this tab only) and sent as X-API-Key. Text is built
// with textContent only: alert descriptions and dead letters' payloads are
// other people's bytes.
'use strict';

// French when the browser's first language is French, English otherwise.
const LANG = /^fr\b/i.test((navigator.languages && navigator.languages[0]) || navigator.language || '') ? 'fr' : 'en';

const TEXT = {
  en: {
    now: 'Now', series: 'Series', stock: 'Stock', spend: 'Spend', forecast: 'Forecast', deliveries: 'Deliveries',
    dead_letters: 'Dead letters', api: 'API', logout: 'Sign out', welcome: 'See your stock and spend',
    key_label: 'API key', sign_in: 'Open',
    key_hint: 'The key stays in this browser tab only; it is sent in a header, never in a URL.',
    bad_key: 'This key is not accepted: check it, or ask for a new one.',
    firing: 'Firing alerts', none_firing: 'No alert is firing. Everything looks normal.',
    since: 'since', silence_1h: 'Silence 1 h', silence_1d: 'Silence 1 day', silence_custom: 'Silence for', hours: 'hours',
    silenced: 'Silenced until', events: 'Events', series_n: 'Series', anomalies: 'Anomalies', firing_n: 'Firing',
    search: 'Search a site, SKU or entity', points: 'points', last: 'last', no_series: 'No series yet.',
    actual: 'Actual', fitted: 'One-step forecast', band: 'Band', published: 'Published forecast', anomaly: 'Anomaly',
    model: 'Model', parameters: 'Parameters', mase: 'Rolling MASE', coverage: 'Band coverage', scored: 'Buckets scored',
    no_model: 'No forecast published yet.', site: 'Site', sku: 'SKU', on_hand: 'On hand', demand: 'Demand / day',
    cover: 'Days of cover', runs_out: 'Runs out around', no_stock: 'No stock series yet.', entity: 'Entity',
    spent: 'Spent so far', budget: 'Budget', projected: 'Projected', rest: 'Forecast of the rest',
    no_spend: 'No spend series yet.', no_budget: 'no budget', upload: 'Forecast a file',
    upload_hint: 'CSV, JSON, Parquet or Excel (.xlsx), up to 50 MB: a date column and a value column (French names and formats are fine).',
    horizon: 'Horizon (buckets)', auto: 'auto', send: 'Forecast', working: 'Working…', horizon_kept: 'Horizon', of: 'of',
    asked: 'asked', skipped: 'Skipped', receiver: 'Receiver', status: 'Status', attempts: 'Attempts', created: 'Created',
    last_error: 'Last error', no_deliveries: 'Nothing sent yet.', received: 'Received', reason: 'Reason',
    message: 'Message', raw: 'As sent', no_dead: 'Nothing refused. Every event was accepted.',
    updated: 'Updated', error: 'Error', colon: ': ', stock_out: 'stock-out', predicted_stockout: 'predicted stock-out',
    low_stock: 'low stock', back: 'All series', probability: 'likely', more: 'More',
    rules: { stock_out: 'Stock-outs', low_stock: 'Low stock', predicted_stockout: 'Predicted stock-outs',
      service_rate_drop: 'Service rate drops', spend_anomaly: 'Spend anomalies', budget_overrun: 'Budget overruns',
      no_data: 'No data', anomaly: 'Anomalies' },
  },
  fr: {
    now: 'Maintenant', series: 'Séries', stock: 'Stock', spend: 'Dépenses', forecast: 'Prévision', deliveries: 'Envois',
    dead_letters: 'Refusés', api: 'API', logout: 'Se déconnecter', welcome: 'Voir votre stock et vos dépenses',
    key_label: 'Clé d’API', sign_in: 'Ouvrir',
    key_hint: 'La clé reste dans cet onglet seulement ; elle part dans un en-tête, jamais dans une adresse.',
    bad_key: 'Cette clé n’est pas acceptée : vérifiez-la ou demandez-en une nouvelle.',
    firing: 'Alertes en cours', none_firing: 'Aucune alerte en cours. Tout semble normal.',
    since: 'depuis', silence_1h: 'Taire 1 h', silence_1d: 'Taire 1 jour', silence_custom: 'Taire pendant', hours: 'heures',
    silenced: 'Silence jusqu’au', events: 'Événements', series_n: 'Séries', anomalies: 'Anomalies', firing_n: 'En cours',
    search: 'Chercher un site, un article ou une entité', points: 'points', last: 'dernier', no_series: 'Pas encore de série.',
    actual: 'Réel', fitted: 'Prévision à un pas', band: 'Intervalle', published: 'Prévision publiée', anomaly: 'Anomalie',
    model: 'Modèle', parameters: 'Paramètres', mase: 'MASE glissant', coverage: 'Couverture de l’intervalle',
    scored: 'Périodes notées', no_model: 'Pas encore de prévision publiée.', site: 'Site', sku: 'Article',
    on_hand: 'En stock', demand: 'Demande / jour', cover: 'Jours de couverture', runs_out: 'Rupture vers le',
    no_stock: 'Pas encore de série de stock.', entity: 'Entité', spent: 'Dépensé à ce jour', budget: 'Budget',
    projected: 'Projeté', rest: 'Prévision du reste', no_spend: 'Pas encore de série de dépenses.',
    no_budget: 'sans budget', upload: 'Prévoir un fichier',
    upload_hint: 'CSV, JSON, Parquet ou Excel (.xlsx), jusqu’à 50 Mo : une colonne de dates et une de valeurs (noms et formats français acceptés).',
    horizon: 'Horizon (périodes)', auto: 'auto', send: 'Prévoir', working: 'Calcul…', horizon_kept: 'Horizon', of: 'sur',
    asked: 'demandées', skipped: 'Ignorées', receiver: 'Destinataire', status: 'État', attempts: 'Essais', created: 'Créé',
    last_error: 'Dernière erreur', no_deliveries: 'Rien d’envoyé pour l’instant.', received: 'Reçu', reason: 'Motif',
    message: 'Message', raw: 'Tel qu’envoyé', no_dead: 'Rien de refusé. Tous les événements ont été acceptés.',
    updated: 'Mis à jour', error: 'Erreur', colon: ' : ', stock_out: 'rupture', predicted_stockout: 'rupture prévue',
    low_stock: 'stock bas', back: 'Toutes les séries', probability: 'probable', more: 'Plus',
    rules: { stock_out: 'Ruptures de stock', low_stock: 'Stocks bas', predicted_stockout: 'Ruptures prévues',
      service_rate_drop: 'Baisses du taux de service', spend_anomaly: 'Dépenses inhabituelles',
      budget_overrun: 'Dépassements de budget', no_data: 'Données absentes', anomaly: 'Anomalies' },
  },
};
const T = TEXT[LANG];
const NUM = new Intl.NumberFormat(LANG === 'fr' ? 'fr-FR' : 'en-GB', { maximumFractionDigits: 1 });
const NUM2 = new Intl.NumberFormat(LANG === 'fr' ? 'fr-FR' : 'en-GB', { maximumFractionDigits: 2 });
const DATE = new Intl.DateTimeFormat(LANG === 'fr' ? 'fr-FR' : 'en-GB', { dateStyle: 'medium', timeZone: 'UTC' });
const TIME = new Intl.DateTimeFormat(LANG === 'fr' ? 'fr-FR' : 'en-GB', { dateStyle: 'medium', timeStyle: 'short', timeZone: 'UTC' });
const AXIS = new Intl.NumberFormat(LANG === 'fr' ? 'fr-FR' : 'en-GB', { notation: 'compact', maximumFractionDigits: 1 });
const num = v => (v === null || v === undefined || Number.isNaN(v)) ? '–' : NUM.format(v);
const day = s => s ? DATE.format(new Date(s)) : '–';
const when = s => s ? TIME.format(new Date(s)) : '–';

// ---- DOM ----
function h(tag, attrs, ...kids) {
  const svg = ['svg', 'path', 'circle', 'line', 'text', 'g', 'polygon', 'title'].includes(tag);
  const el = svg ? document.createElementNS('http://www.w3.org/2000/svg', tag) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const kid of kids.flat()) {
    if (kid === null || kid === undefined || kid === false) continue;
    el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  }
  return el;
}
const $ = sel => document.querySelector(sel);
// A table that scrolls sideways on its own on a narrow screen.
const tw = (...args) => h('div', { class: 'table-wrap' }, h(...args));

// ---- API ----
const KEY = 'vigie-key';
class ApiError extends Error { constructor(status, msg) { super(msg); this.status = status; } }
async function api(path, opts = {}) {
  const headers = Object.assign({ 'X-API-Key': sessionStorage.getItem(KEY) || '' }, opts.headers || {});
  const r = await fetch(path, Object.assign({}, opts, { headers }));
  if (r.status === 204) return null;
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new ApiError(r.status, (body.error && body.error.message) || r.statusText);
  return body;
}
async function all(path, max = 5000) {
  let items = [], cursor = null;
  do {
    const sep = path.includes('?') ? '&' : '?';
    const page = await api(path + sep + 'limit=1000' + (cursor ? '&cursor=' + encodeURIComponent(cursor) : ''));
    items = items.concat(page.items);
    cursor = page.next_cursor;
  } while (cursor && items.length < max);
  return items;
}

// ---- views ----
const views = {};
let timer = null, drawing = false, again = false;

views.now = async () => {
  const [ov, alerts, silences] = await Promise.all([api('/v1/stats/overview'), all('/v1/alerts'), api('/v1/silences').catch(() => ({ items: [] }))]);
  const anomalies = Object.values(ov.anomalies_by_severity || {}).reduce((a, b) => a + b, 0);
  const out = [h('div', { class: 'cards' },
    h('div', { class: 'card' }, T.events, h('b', {}, num(ov.events))),
    h('div', { class: 'card' }, T.series_n, h('b', {}, num(ov.series))),
    h('div', { class: 'card' }, T.anomalies, h('b', {}, num(anomalies))),
    h('div', { class: 'card' }, T.firing_n, h('b', { id: 'firing-count' }, num(alerts.length))))];
  out.push(h('h1', {}, T.firing));
  if (!alerts.length) out.push(h('p', { class: 'muted' }, T.none_firing));
  const active = (silences.items || []).filter(s => s.state !== 'expired');
  const byRule = {};
  for (const a of alerts) {
    const where = a.series.includes('/') ? a.series.split('/')[0] : a.series;
    ((byRule[a.rule] ||= {})[where] ||= []).push(a);
  }
  for (const rule of Object.keys(byRule).sort()) {
    const group = h('div', { class: 'group', 'data-rule': rule },
      h('h2', {}, (T.rules[rule] || rule) + ' · ' + Object.values(byRule[rule]).reduce((n, l) => n + l.length, 0)));
    for (const where of Object.keys(byRule[rule]).sort()) {
      group.append(h('h3', {}, where));
      for (const a of byRule[rule][where]) group.append(alertItem(a, active));
    }
    out.push(group);
  }
  return out;
};

function silencedBy(a, silences) {
  return silences.find(s => s.matchers.every(m => (m.name === 'rule' && m.value === a.rule) || (m.name === 'series' && m.value === a.series)) &&
    s.matchers.length === 2);
}

function alertItem(a, silences) {
  const s = silencedBy(a, silences);
  const custom = h('input', { type: 'number', min: '1', max: '8760', value: '4', 'aria-label': T.hours, class: 'silence-hours' });
  const actions = s
    ? h('div', { class: 'actions muted silenced' }, T.silenced + ' ' + when(s.ends_at))
    : h('div', { class: 'actions' },
      h('button', { type: 'button', class: 'silence-1h', onclick: () => silence(a, 1) }, T.silence_1h),
      h('button', { type: 'button', class: 'silence-1d', onclick: () => silence(a, 24) }, T.silence_1d),
      h('button', { type: 'button', class: 'silence-custom', onclick: () => silence(a, Number(custom.value)) }, T.silence_custom), custom, T.hours);
  return h('div', { class: 'alert', 'data-fingerprint': a.fingerprint, 'data-series': a.series },
    h('div', {}, h('span', { class: 'sev sev-' + a.severity }, a.severity), ' ',
      h('a', { href: '#series/' + encodeURIComponent(a.series) }, a.series)),
    h('div', { class: 'description' }, a.description),
    h('div', { class: 'muted' }, T.since + ' ' + when(a.starts_at)),
    actions);
}

async function silence(a, hours) {
  if (!(hours > 0)) return;
  const ends = new Date(Date.now() + hours * 3600e3).toISOString();
  await api('/v1/silences', {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ matchers: [{ name: 'rule', value: a.rule }, { name: 'series', value: a.series }],
      ends_at: ends, created_by: 'console', comment: a.description }),
  });
  show();
}

let seriesFilter = '';
views.series = async (key) => {
  if (key) return seriesDetail(key);
  const items = await all('/v1/series');
  const list = h('ul', { class: 'list', id: 'series-list' });
  const search = h('input', { type: 'search', id: 'series-search', placeholder: T.search, value: seriesFilter, 'aria-label': T.search });
  const fill = () => {
    const q = search.value.trim().toLowerCase();
    seriesFilter = search.value;
    list.replaceChildren(...items.filter(s => !q || s.series.toLowerCase().includes(q)).slice(0, 300).map(s =>
      h('li', { 'data-series': s.series, onclick: () => { location.hash = '#series/' + encodeURIComponent(s.series); } },
        h('span', {}, s.series), h('span', { class: 'muted' }, s.kind + ' · ' + num(s.points) + ' ' + T.points + ' · ' + T.last + ' ' + day(s.last_ts)))));
  };
  search.addEventListener('input', fill);
  fill();
  return [h('h1', {}, T.series), search, items.length ? list : h('p', { class: 'muted' }, T.no_series)];
};

async function seriesDetail(key) {
  const k = encodeURIComponent(key);
  const [hist, anomalies, model] = await Promise.all([
    api('/v1/series/' + k + '/history'),
    all('/v1/anomalies?series=' + k),
    api('/v1/series/' + k + '/model').catch(e => (e.status === 404 ? null : Promise.reject(e))),
  ]);
  const pts = hist.points.slice(-1000).map(p => ({ t: Date.parse(p.ts), y: p.value, f: p.forecast, lo: p.lower, hi: p.upper }));
  const fc = hist.forecast.map(p => ({ t: Date.parse(p.ts), f: p.forecast, lo: p.lower, hi: p.upper }));
  const first = pts.length ? pts[0].t : 0;
  const marks = anomalies.filter(a => Date.parse(a.ts) >= first).map(a => ({ t: Date.parse(a.ts), y: a.actual, sev: a.severity, label: a.description }));
  const out = [h('p', {}, h('a', { href: '#series' }, '← ' + T.back)), h('h1', {}, key),
    chart(pts, fc, marks),
    h('div', { class: 'legend' }, h('span', {}, '— ' + T.actual), h('span', {}, '┄ ' + T.fitted), h('span', {}, '▮ ' + T.band),
      h('span', {}, '━ ' + T.published), h('span', {}, '● ' + T.anomaly))];
  out.push(h('h2', {}, T.model));
  if (model) {
    const params = Object.entries(model.parameters || {}).filter(([, v]) => v !== null).map(([n, v]) => n + ' ' + NUM2.format(v)).join(', ');
    out.push(h('div', { class: 'model', id: 'model-card' },
      h('div', { class: 'card' }, T.model, h('b', {}, model.model)),
      h('div', { class: 'card' }, T.parameters, h('div', {}, params || '–')),
      h('div', { class: 'card' }, T.mase, h('b', {}, model.accuracy.mase === null ? '–' : NUM2.format(model.accuracy.mase))),
      h('div', { class: 'card' }, T.coverage, h('b', {}, model.accuracy.coverage === null ? '–' : Math.round(model.accuracy.coverage * 100) + ' %')),
      h('div', { class: 'card' }, T.scored, h('b', {}, num(model.accuracy.buckets)))));
  } else out.push(h('p', { class: 'muted' }, T.no_model));
  if (anomalies.length) {
    out.push(h('h2', {}, T.anomalies));
    out.push(tw('table', {}, h('tbody', {}, anomalies.slice(0, 50).map(a => h('tr', {},
      h('td', {}, h('span', { class: 'sev sev-' + a.severity }, a.severity)), h('td', {}, day(a.ts)), h('td', {}, a.description))))));
  }
  return out;
}

// A line chart: actuals, the one-step forecasts with their band, the
// published forecast with its band, anomaly markers by severity.
function chart(pts, fc, marks, opts = {}) {
  const W = 800, H = 280, L = 56, R = 10, Tp = 10, B = 26;
  const xs = pts.map(p => p.t).concat(fc.map(p => p.t));
  const ys = [];
  for (const p of pts) ys.push(p.y, p.lo, p.hi);
  for (const p of fc) ys.push(p.f, p.lo, p.hi);
  const yv = ys.filter(v => typeof v === 'number' && Number.isFinite(v));
  if (!xs.length || !yv.length) return h('p', { class: 'muted' }, '–');
  let x0 = Math.min(...xs), x1 = Math.max(...xs); if (x1 === x0) x1 = x0 + 1;
  let y0 = Math.min(0, ...yv), y1 = Math.max(...yv); if (y1 === y0) y1 = y0 + 1;
  const X = t => L + (t - x0) / (x1 - x0) * (W - L - R);
  const Y = v => Tp + (1 - (v - y0) / (y1 - y0)) * (H - Tp - B);
  const line = (list, get) => {
    let d = '', pen = false;
    for (const p of list) {
      const v = get(p);
      if (typeof v !== 'number') { pen = false; continue; }
      d += (pen ? 'L' : 'M') + X(p.t).toFixed(1) + ' ' + Y(v).toFixed(1);
      pen = true;
    }
    return d;
  };
  const band = list => {
    const ok = list.filter(p => typeof p.lo === 'number' && typeof p.hi === 'number');
    if (!ok.length) return null;
    return ok.map(p => X(p.t).toFixed(1) + ',' + Y(p.hi).toFixed(1)).concat(ok.reverse().map(p => X(p.t).toFixed(1) + ',' + Y(p.lo).toFixed(1))).join(' ');
  };
  const g = h('g', {});
  for (let i = 0; i <= 4; i++) {
    const v = y0 + (y1 - y0) * i / 4;
    g.append(h('line', { class: 'grid', x1: L, x2: W - R, y1: Y(v), y2: Y(v) }), h('text', { x: L - 6, y: Y(v) + 4, 'text-anchor': 'end' }, AXIS.format(v)));
  }
  g.append(h('text', { x: L, y: H - 6 }, day(new Date(x0).toISOString())), h('text', { x: W - R, y: H - 6, 'text-anchor': 'end' }, day(new Date(x1).toISOString())));
  const hb = band(pts.slice()), fb = band(fc.slice());
  if (hb) g.append(h('polygon', { class: 'band', points: hb }));
  if (fb) g.append(h('polygon', { class: 'band band-forecast', points: fb }));
  g.append(h('path', { class: 'fitted', d: line(pts, p => p.f) }));
  g.append(h('path', { class: 'actual', d: line(pts, p => p.y) }));
  if (fc.length) g.append(h('path', { class: 'predicted', d: line(fc, p => p.f) }));
  for (const m of marks) {
    g.append(h('circle', { class: 'anomaly sev-' + m.sev, cx: X(m.t).toFixed(1), cy: Y(m.y).toFixed(1), r: m.sev === 'HIGH' ? 6 : 4.5 },
      h('title', {}, day(new Date(m.t).toISOString()) + ': ' + (m.label || ''))));
  }
  return h('div', { class: 'chart' + (opts.cls ? ' ' + opts.cls : '') }, h('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img' }, g));
}

function alertBadges(alerts, series) {
  return alerts.filter(a => a.series === series && ['stock_out', 'predicted_stockout', 'low_stock'].includes(a.rule)).map(a =>
    h('span', { class: 'badge' + (a.rule === 'stock_out' ? '' : ' medium'), title: a.description },
      T[a.rule] + (a.rule === 'predicted_stockout' ? ' ' + Math.round(a.value * 100) + ' % ' + T.probability : '')));
}

views.stock = async () => {
  const [stock, alerts] = await Promise.all([api('/v1/stock'), all('/v1/alerts')]);
  const out = [h('h1', {}, T.stock)];
  if (!stock.sites.length) out.push(h('p', { class: 'muted' }, T.no_stock));
  for (const site of stock.sites) {
    out.push(h('h2', {}, site.site));
    out.push(tw('table', { class: 'wide stock', 'data-site': site.site },
      h('thead', {}, h('tr', {}, h('th', {}, T.sku), h('th', { class: 'num' }, T.on_hand), h('th', { class: 'num opt' }, T.demand),
        h('th', { class: 'num' }, T.cover), h('th', {}, T.runs_out))),
      h('tbody', {}, site.skus.map(s => {
        const c = s.days_of_cover;
        const cls = c === null ? '' : c <= 0 ? 'cover-0' : c < 7 ? 'cover-low' : '';
        return h('tr', { class: 'clickable', 'data-series': s.series, 'data-cover': c === null ? '' : c,
          onclick: () => { location.hash = '#series/' + encodeURIComponent(s.series); } },
        h('td', {}, s.sku, ' ', alertBadges(alerts, s.series)), h('td', { class: 'num' }, num(s.on_hand)),
        h('td', { class: 'num opt' }, num(s.demand_per_day)), h('td', { class: 'num cover ' + cls }, num(c)),
        h('td', {}, s.runs_out_around ? day(s.runs_out_around) : '–'));
      }))));
  }
  return out;
};

views.spend = async () => {
  const { entities } = await api('/v1/spend');
  const out = [h('h1', {}, T.spend)];
  if (!entities.length) out.push(h('p', { class: 'muted' }, T.no_spend));
  else out.push(tw('table', { class: 'wide spend' },
    h('thead', {}, h('tr', {}, h('th', {}, T.entity), h('th', { class: 'num' }, T.spent), h('th', { class: 'num opt' }, T.rest),
      h('th', { class: 'num' }, T.projected), h('th', { class: 'num' }, T.budget), h('th', {}, ''))),
    h('tbody', {}, entities.map(e => {
      const b = e.budget, full = Math.max(b || 0, e.projected || 0, e.spent || 0) || 1;
      const bar = h('div', { class: 'bar' + (b && (e.projected || e.spent) > b ? ' over' : '') });
      const rest = h('span', { class: 'rest' }), spent = h('span', { class: 'spent' });
      rest.style.width = Math.min(100, 100 * (e.projected || e.spent || 0) / full) + '%';
      spent.style.width = Math.min(100, 100 * Math.max(0, e.spent || 0) / full) + '%';
      bar.append(rest, spent);
      return h('tr', { class: 'clickable', 'data-entity': e.entity, onclick: () => { location.hash = '#series/' + encodeURIComponent(e.entity); } },
        h('td', {}, e.entity), h('td', { class: 'num' }, num(e.spent)), h('td', { class: 'num opt' }, num(e.rest_forecast)),
        h('td', { class: 'num' }, num(e.projected)), h('td', { class: 'num' }, b === null ? T.no_budget : num(b)),
        h('td', {}, bar, e.projected_share === null ? '' : h('span', { class: 'muted' }, Math.round(e.projected_share * 100) + ' %')));
    }))));
  return out;
};

let lastForecast = null;
views.forecast = async () => {
  const file = h('input', { type: 'file', id: 'forecast-file', name: 'file', accept: '.csv,.json,.parquet,.xlsx,.txt', required: true });
  const horizon = h('input', { type: 'number', id: 'forecast-horizon', min: '1', max: '10000', placeholder: T.auto });
  const result = h('div', { id: 'forecast-result' });
  const msg = h('p', { class: 'error', role: 'alert' });
  const form = h('form', { id: 'forecast-form' }, h('p', { class: 'hint' }, T.upload_hint),
    h('div', { class: 'row' }, file), h('div', { class: 'row' }, h('label', { for: 'forecast-horizon' }, T.horizon), horizon,
      h('button', { type: 'submit', class: 'primary' }, T.send)), msg);
  form.addEventListener('submit', async ev => {
    ev.preventDefault();
    if (!file.files.length) return;
    msg.textContent = T.working;
    const body = new FormData();
    body.append('file', file.files[0]);
    try {
      const q = horizon.value ? '?horizon=' + encodeURIComponent(horizon.value) : '';
      lastForecast = await api('/v1/forecast' + q, { method: 'POST', body });
      msg.textContent = '';
      result.replaceChildren(...forecastResult(lastForecast));
    } catch (e) { msg.textContent = e.message; }
  });
  if (lastForecast) result.replaceChildren(...forecastResult(lastForecast));
  return [h('h1', {}, T.upload), form, result];
};

function forecastResult(r) {
  const out = [];
  const t = (w, i) => typeof w === 'number' ? i : Date.parse(w);
  for (const s of r.series) {
    const pts = s.history.map((p, i) => ({ t: t(p.ts, i), y: p.value, f: p.fitted }));
    const fc = s.forecast.map((p, i) => ({ t: t(p.ts, s.history.length + i), f: p.forecast, lo: p.lower, hi: p.upper }));
    const marks = s.anomalies.map(a => ({ t: t(a.ts, s.history.findIndex(p => p.ts === a.ts)), y: a.value, sev: a.severity }));
    const hz = s.horizon;
    out.push(h('h2', {}, s.series + ' · ' + s.model_info.name),
      chart(pts, fc, marks, { cls: 'forecast-chart' }),
      h('p', { class: 'horizon' }, T.horizon_kept + T.colon + hz.validated +
        (hz.mode === 'auto' ? ' (' + T.auto + ')' : ' ' + T.of + ' ' + hz.requested + ' ' + T.asked) +
        (hz.reason ? ' — ' + hz.reason : '') + (hz.warning ? ' — ' + hz.warning : '')),
      h('ul', { class: 'muted' }, (s.explanations || []).map(e => h('li', {}, e))));
  }
  if (r.skipped && r.skipped.length) out.push(h('h2', {}, T.skipped), h('ul', {}, r.skipped.map(s => h('li', {}, s.series + ': ' + s.reason))));
  return out;
}

views.deliveries = async () => {
  const { items } = await api('/v1/deliveries?limit=200');
  return [h('h1', {}, T.deliveries), items.length ? tw('table', { class: 'wide' },
    h('thead', {}, h('tr', {}, h('th', {}, T.created), h('th', {}, T.receiver), h('th', {}, T.status), h('th', { class: 'num opt' }, T.attempts), h('th', { class: 'opt' }, T.last_error))),
    h('tbody', {}, items.map(d => h('tr', {}, h('td', {}, when(d.created_at)), h('td', {}, d.receiver), h('td', {}, d.status),
      h('td', { class: 'num opt' }, num(d.attempts)), h('td', { class: 'opt' }, d.last_error || (d.last_status ? 'HTTP ' + d.last_status : '')))))) : h('p', { class: 'muted' }, T.no_deliveries)];
};

views['dead-letters'] = async () => {
  const { items } = await api('/v1/dead-letters?limit=200');
  return [h('h1', {}, T.dead_letters), items.length ? tw('table', { class: 'wide dead' },
    h('thead', {}, h('tr', {}, h('th', {}, T.received), h('th', {}, T.reason), h('th', {}, T.message), h('th', { class: 'opt' }, T.raw))),
    h('tbody', {}, items.map(d => h('tr', {}, h('td', {}, when(d.received_at)), h('td', {}, d.reason), h('td', {}, d.message),
      h('td', { class: 'opt' }, h('pre', {}, d.raw)))))) : h('p', { class: 'muted' }, T.no_dead)];
};

// ---- shell ----
function route() {
  const [name, ...rest] = (location.hash.slice(1) || 'now').split('/');
  return { name: views[name] ? name : 'now', arg: rest.length ? decodeURIComponent(rest.join('/')) : null };
}

async function show(quiet) {
  if (!sessionStorage.getItem(KEY)) return login();
  // A navigation during a draw (a slow answer, a live refresh) is drawn right after it, never dropped.
  if (drawing) { if (!quiet) again = true; return; }
  drawing = true;
  const { name, arg } = route();
  for (const a of document.querySelectorAll('nav a[data-view]')) a.classList.toggle('active', a.dataset.view === name);
  const view = $('#view');
  try {
    const active = document.activeElement;
    const focused = active && active.id;
    const typing = active && view.contains(active) && ['INPUT', 'SELECT', 'TEXTAREA'].includes(active.tagName);
    const nodes = await views[name](arg);
    if (route().name !== name || again) return;
    // A live refresh must not take away what someone is typing or picking.
    if (!(quiet && (name === 'forecast' || (typing && focused !== 'series-search')))) {
      view.replaceChildren(...nodes);
      if (focused && document.getElementById(focused) && focused === 'series-search') {
        const el = document.getElementById(focused); el.focus(); el.setSelectionRange(el.value.length, el.value.length);
      }
    }
    view.dataset.view = name;
    $('#status').textContent = T.updated + ' ' + new Date().toLocaleTimeString(LANG);
  } catch (e) {
    if (e.status === 401) { sessionStorage.removeItem(KEY); drawing = false; return login(T.bad_key); }
    $('#status').textContent = T.error + T.colon + e.message;
  } finally {
    drawing = false;
    if (again) { again = false; show(); }
  }
}

function login(error) {
  $('#nav').hidden = true; $('#logout').hidden = true; $('#view').replaceChildren();
  $('#login').hidden = false; $('#login-error').textContent = error || '';
  $('#key').focus();
}

function start() {
  document.documentElement.lang = LANG;
  for (const el of document.querySelectorAll('[data-t]')) el.textContent = T[el.dataset.t];
  $('#key').placeholder = 'vk_…';
  $('#login').addEventListener('submit', ev => {
    ev.preventDefault();
    sessionStorage.setItem(KEY, $('#key').value.trim());
    $('#key').value = '';
    enter();
  });
  $('#logout').addEventListener('click', () => { sessionStorage.removeItem(KEY); clearInterval(timer); login(); });
  window.addEventListener('hashchange', () => show());
  if (sessionStorage.getItem(KEY)) enter(); else login();
}

function enter() {
  $('#login').hidden = true; $('#nav').hidden = false; $('#logout').hidden = false;
  show();
  clearInterval(timer);
  timer = setInterval(() => { if (!document.hidden) show(true); }, 5000);
}

start();
