// Small charts as inline SVG, drawn from the progress API's numbers. Each
// chart is a <figure> whose SVG has a text alternative, followed by the
// same numbers as a table (collapsed), so nothing is only a picture.

import { h } from './dom.js';

const PALETTE = ['#1f4e79', '#2f7fbf', '#6cb0e6', '#1a7f37', '#8fcf9a', '#9a6700', '#e3b341', '#b42318', '#f1a7a0', '#6e40c9', '#b39ddb', '#57606a'];
const ROW = 26;
const LABEL_W = 190;
const WIDTH = 720;

function svg(height, label) {
  return h('svg:svg', {
    class: 'chart', viewBox: `0 0 ${WIDTH} ${height}`, role: 'img', 'aria-label': label, preserveAspectRatio: 'xMinYMin meet',
  }, h('svg:title', {}, label));
}

function text(x, y, content, attrs = {}) {
  return h('svg:text', { x, y, ...attrs }, content);
}

function clip(label, n = 28) {
  return label.length > n ? `${label.slice(0, n - 1)}…` : label;
}

function dataTable(caption, head, rows) {
  return h('details', {},
    h('summary', {}, 'The numbers'),
    h('div', { class: 'scroll' }, h('table', {},
      h('caption', {}, caption),
      h('thead', {}, h('tr', {}, head.map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, rows.map((r) => h('tr', {}, r.map((v, i) => h(i ? 'td' : 'th', i ? { class: 'num' } : { scope: 'row' }, String(v)))))))));
}

function figure(name, chart, table, legend) {
  return h('figure', { class: 'figure', 'data-chart': name }, chart, legend || null, table);
}

function empty(message) {
  return h('p', { class: 'muted' }, message);
}

/** Horizontal bars, one per item: `{label, value}`. */
export function bars(items, { title, empty: none = 'Nothing to show.' }) {
  if (!items.length) return empty(none);
  const max = Math.max(1, ...items.map((i) => i.value));
  const height = items.length * ROW + 10;
  const chart = svg(height, `${title}: ${items.map((i) => `${i.label} ${i.value}`).join(', ')}`);
  const span = WIDTH - LABEL_W - 60;
  items.forEach((item, n) => {
    const y = n * ROW + 5;
    const w = Math.max(1, Math.round((item.value / max) * span));
    chart.append(
      text(LABEL_W - 8, y + 16, clip(item.label), { 'text-anchor': 'end' }),
      h('svg:rect', { x: LABEL_W, y: y + 3, width: w, height: ROW - 8, rx: 2, fill: PALETTE[n % PALETTE.length], 'data-value': item.value }),
      text(LABEL_W + w + 6, y + 16, String(item.value)));
  });
  return figure(title, chart, dataTable(title, ['', 'count'], items.map((i) => [i.label, i.value])));
}

/** Progress towards a target per item: `{label, target, done, held}`
 *  (`held` includes `done`). */
export function progressBars(items, { title, doneText, heldText }) {
  if (!items.length) return empty('No quotas yet.');
  const max = Math.max(1, ...items.map((i) => Math.max(i.target, i.held)));
  const height = items.length * ROW + 10;
  const chart = svg(height, `${title}: ${items.map((i) => `${i.label} ${i.held} of ${i.target} (${i.done} ${doneText})`).join(', ')}`);
  const span = WIDTH - LABEL_W - 90;
  items.forEach((item, n) => {
    const y = n * ROW + 5;
    const scale = (v) => Math.round((v / max) * span);
    chart.append(
      text(LABEL_W - 8, y + 16, clip(item.label), { 'text-anchor': 'end' }),
      h('svg:rect', { x: LABEL_W, y: y + 3, width: Math.max(1, scale(item.target)), height: ROW - 8, rx: 2, fill: '#eef2f6', stroke: '#8c959f' }),
      h('svg:rect', { x: LABEL_W, y: y + 3, width: scale(item.held), height: ROW - 8, rx: 2, fill: PALETTE[2], 'data-value': item.held }),
      h('svg:rect', { x: LABEL_W, y: y + 3, width: scale(item.done), height: ROW - 8, rx: 2, fill: PALETTE[0], 'data-value': item.done }),
      text(LABEL_W + Math.max(scale(item.target), scale(item.held)) + 6, y + 16, `${item.held}/${item.target}`));
  });
  const legend = h('ul', { class: 'legend' },
    h('li', {}, h('span', { class: 'swatch', dataset: { c: '0' } }), doneText),
    h('li', {}, h('span', { class: 'swatch', dataset: { c: '2' } }), heldText),
    h('li', {}, h('span', { class: 'swatch', dataset: { c: 'target' } }), 'target'));
  return figure(title, chart,
    dataTable(title, ['', 'target', heldText, doneText], items.map((i) => [i.label, i.target, i.held, i.done])), legend);
}

/** A share per item as a percentage bar: `{label, part, whole}`. */
export function rates(items, { title, empty: none }) {
  const shown = items.filter((i) => i.whole > 0);
  if (!shown.length) return empty(none);
  const height = shown.length * ROW + 10;
  const pct = (i) => Math.round((i.part / i.whole) * 100);
  const chart = svg(height, `${title}: ${shown.map((i) => `${i.label} ${pct(i)} % (${i.part} of ${i.whole})`).join(', ')}`);
  const span = WIDTH - LABEL_W - 120;
  shown.forEach((item, n) => {
    const y = n * ROW + 5;
    chart.append(
      text(LABEL_W - 8, y + 16, clip(item.label), { 'text-anchor': 'end' }),
      h('svg:rect', { x: LABEL_W, y: y + 3, width: span, height: ROW - 8, rx: 2, fill: '#eef2f6' }),
      h('svg:rect', { x: LABEL_W, y: y + 3, width: Math.round((item.part / item.whole) * span), height: ROW - 8, rx: 2, fill: PALETTE[7], 'data-value': pct(item) }),
      text(LABEL_W + span + 6, y + 16, `${pct(item)} % (${item.part}/${item.whole})`));
  });
  return figure(title, chart, dataTable(title, ['', 'failed', 'tested', '%'], shown.map((i) => [i.label, i.part, i.whole, pct(i)])));
}

/** Counts by key over time, stacked: `points` are `{at, by_status}`,
 *  placed by their time (the first, one per day, then now). */
export function stackedArea(points, order, { title }) {
  const keys = order.filter((k) => points.some((p) => p.by_status[k]));
  const height = 240;
  const left = 40;
  const bottom = 24;
  const top = 10;
  const times = points.map((p) => new Date(p.at).getTime());
  const [t0, t1] = [times[0], times[times.length - 1]];
  const totals = points.map((p) => keys.reduce((n, k) => n + (p.by_status[k] || 0), 0));
  const max = Math.max(1, ...totals);
  const x = (i) => left + ((times[i] - t0) / Math.max(1, t1 - t0)) * (WIDTH - left - 10);
  const y = (v) => top + (1 - v / max) * (height - top - bottom);
  const last = points[points.length - 1];
  const short = t1 - t0 < 36 * 3_600_000;
  const fmt = (t) => new Date(t).toLocaleString(undefined, short ? { hour: '2-digit', minute: '2-digit' } : { month: 'short', day: 'numeric' });
  const chart = svg(height, `${title}, from ${new Date(t0).toLocaleString()} to now: ${keys.map((k) => `${k.replaceAll('_', ' ')} ${last.by_status[k] || 0}`).join(', ')}`);
  for (const v of [0, Math.round(max / 2), max]) {
    chart.append(h('svg:line', { class: 'grid', x1: left, x2: WIDTH - 10, y1: y(v), y2: y(v) }), text(left - 6, y(v) + 4, String(v), { 'text-anchor': 'end' }));
  }
  const base = points.map(() => 0);
  keys.forEach((k, n) => {
    const upper = points.map((p, i) => base[i] + (p.by_status[k] || 0));
    // Steps, not slopes: a count holds until the next point.
    const edge = (values) => values.flatMap((v, i) => (i ? [[x(i), y(values[i - 1])], [x(i), y(v)]] : [[x(i), y(v)]]));
    const upperEdge = edge(upper);
    const lowerEdge = edge(base).reverse();
    const d = [...upperEdge, ...lowerEdge].map(([px, py], i) => `${i ? 'L' : 'M'}${px.toFixed(1)},${py.toFixed(1)}`).join(' ');
    chart.append(h('svg:path', { d: `${d} Z`, fill: PALETTE[n % PALETTE.length], opacity: 0.9, 'data-key': k }));
    upper.forEach((v, i) => { base[i] = v; });
  });
  chart.append(h('svg:line', { class: 'axis', x1: left, x2: WIDTH - 10, y1: y(0), y2: y(0) }));
  chart.append(text(left, height - 6, fmt(t0)), text(WIDTH - 10, height - 6, short ? 'now' : fmt(t1), { 'text-anchor': 'end' }));
  const legend = h('ul', { class: 'legend' }, keys.map((k, n) => h('li', {}, h('span', { class: 'swatch', dataset: { c: String(n % PALETTE.length) } }), k.replaceAll('_', ' '))));
  return figure(title, chart,
    dataTable(title, ['when', ...keys.map((k) => k.replaceAll('_', ' '))], points.map((p, i) => [new Date(times[i]).toLocaleString(), ...keys.map((k) => p.by_status[k] || 0)])), legend);
}
