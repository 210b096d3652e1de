// Coordinators: campaigns. The list, a new campaign, and one campaign's
// pages as tabs: overview, settings, quotas, candidates (with the CSV
// import and its row-by-row report), assignment (preview, adjust, commit),
// tasks, progress (charts), parcels and results (publishing, exceptions)
// and money (reimbursements, exports).

import { get, post, put, patch, query, parseCsv } from '../api.js';
import {
  h, mount, field, choices, checkedValues, table, title, badge, busy, toast, money, when, dateInput, words, newId,
} from '../dom.js';
import * as charts from '../charts.js';
import { taskTable } from './tasks.js';

export const EVIDENCE_KINDS = [
  ['listing_photo', 'Listing photo'], ['product_photo', 'Product photo'], ['order_screenshot', 'Order screenshot'],
  ['payment_screenshot', 'Payment screenshot'], ['chat_log', 'Chat log'], ['shipping_info', 'Shipping information'],
  ['parcel_photo', 'Parcel photo'], ['receipt', 'Receipt'],
];

const STATUS_TONE = { draft: 'warn', active: 'ok', closed: '' };

/** Categories by id, cached for the page's life. */
let categoryCache;
export async function categories() {
  if (!categoryCache) categoryCache = get('/api/categories');
  return categoryCache;
}

function categoryName(list, id) {
  const c = list.find((x) => x.id === id);
  return c ? c.name : id;
}

/** Money typed in major units (`1234.50`) as minor units. */
function minor(text) {
  const n = Number(String(text).replace(',', '.'));
  return Number.isFinite(n) ? Math.round(n * 100) : NaN;
}

function major(minorUnits) {
  return minorUnits === null || minorUnits === undefined ? '' : (minorUnits / 100).toFixed(2);
}

// ---- the list ----------------------------------------------------------------

/** `#/campaigns`: every campaign, latest start first. */
export async function list(el, _params, q) {
  const status = q.get('status') || '';
  const campaigns = await get(`/api/campaigns${query({ status })}`);
  const filter = h('select', {
    onchange: () => { location.hash = `#/campaigns${query({ status: filter.value })}`; },
  }, h('option', { value: '' }, 'Any status'), ['draft', 'active', 'closed'].map((s) => h('option', { value: s, selected: s === status }, s)));
  mount(el,
    title('Campaigns'),
    h('div', { class: 'row' },
      h('div', { class: 'grow' }, field('Show', filter)),
      h('div', { class: 'actions' }, h('a', { class: 'button primary', href: '#/campaigns/new' }, 'New campaign'))),
    table('Campaigns', [
      ['Name', (c) => h('a', { href: `#/campaigns/${c.id}` }, c.name)],
      ['Status', (c) => badge(c.status, STATUS_TONE[c.status])],
      ['Period', (c) => `${dateInput(c.starts_at)} – ${dateInput(c.ends_at)}`, 'nowrap'],
      ['Platforms', (c) => c.platforms.join(', ')],
      ['Lots planned', (c) => String(c.quotas.filter((x) => !x.platform).reduce((n, x) => n + x.target, 0)
        || c.quotas.reduce((n, x) => n + x.target, 0)), 'num'],
      ['Candidates', (c) => String(c.candidates), 'num'],
      ['Budget', (c) => money(c.budget, c.currency), 'num'],
    ], campaigns, { empty: status ? `No ${status} campaigns.` : 'No campaigns yet. Start with “New campaign”.' }));
}

// ---- the form ----------------------------------------------------------------

/** The campaign form, empty or filled from `c`; `submit(body)` saves. */
async function campaignForm(c, submitText, submit) {
  const [stations, labs] = await Promise.all([get('/api/stations'), get('/api/labs')]);
  const out = h('div', { 'aria-live': 'polite' });
  const name = h('input', { type: 'text', name: 'name', required: true, maxlength: '200', value: c ? c.name : '' });
  const starts = h('input', { type: 'date', name: 'starts_at', required: true, value: c ? dateInput(c.starts_at) : '' });
  const ends = h('input', { type: 'date', name: 'ends_at', required: true, value: c ? dateInput(c.ends_at) : '' });
  const platforms = h('input', { type: 'text', name: 'platforms', required: true, value: c ? c.platforms.join(', ') : '', placeholder: 'taobao, jd, pinduoduo' });
  const currency = h('input', { type: 'text', name: 'currency', required: true, maxlength: '3', value: c ? c.currency : 'CNY', disabled: Boolean(c) });
  const budget = h('input', { type: 'number', name: 'budget', required: true, min: '0', step: '0.01', value: c ? major(c.budget) : '' });
  const lab = h('select', { name: 'lab' }, h('option', { value: '' }, '— none yet —'),
    labs.map((l) => h('option', { value: l.id, selected: c && c.lab === l.id }, `${l.name} (${l.region})${l.active ? '' : ' — inactive'}`)));
  const acceptance = h('input', { type: 'number', name: 'acceptance_window_hours', min: '1', max: '720', value: c ? c.acceptance_window_hours : 24 });
  const purchase = h('input', { type: 'number', name: 'purchase_window_hours', min: '1', max: '2160', value: c ? c.purchase_window_hours : 72 });
  const board = h('input', { type: 'checkbox', name: 'open_board', checked: c && c.open_board });
  const witnessed = h('input', { type: 'checkbox', name: 'witnessed_opening', checked: c && c.witnessed_opening });
  const plan = h('textarea', { name: 'test_plan', maxlength: '2000' }, c ? c.test_plan : '');
  const button = h('button', { type: 'submit', class: 'primary' }, submitText);
  const form = h('form', {
    class: 'card',
    onsubmit: (event) => {
      event.preventDefault();
      busy(button, out, async () => {
        const budgetMinor = minor(budget.value);
        if (Number.isNaN(budgetMinor)) throw { title: 'The budget is not a number' };
        const body = {
          name: name.value.trim(),
          starts_at: `${starts.value}T00:00:00Z`,
          ends_at: `${ends.value}T23:59:59Z`,
          platforms: platforms.value.split(/[\s,]+/).map((p) => p.trim().toLowerCase()).filter(Boolean),
          budget: budgetMinor,
          required_evidence: checkedValues(form, 'required_evidence'),
          relay_stations: checkedValues(form, 'relay_stations'),
          acceptance_window_hours: Number(acceptance.value),
          purchase_window_hours: Number(purchase.value),
          open_board: board.checked,
          witnessed_opening: witnessed.checked,
          test_plan: plan.value.trim(),
        };
        if (lab.value) body.lab = lab.value;
        if (!c) body.currency = currency.value.trim().toUpperCase();
        await submit(body);
      });
    },
  },
  field('Name', name, 'e.g. “Double 11, 2026”'),
  h('div', { class: 'row' }, h('div', { class: 'grow' }, field('Starts', starts)), h('div', { class: 'grow' }, field('Ends', ends))),
  field('Platforms', platforms, 'Platform keys, separated by commas.'),
  h('div', { class: 'row' },
    h('div', { class: 'grow' }, field('Currency', currency, c ? 'Fixed once the campaign exists.' : 'ISO 4217, e.g. CNY.')),
    h('div', { class: 'grow' }, field('Budget', budget, 'In the currency’s main unit, e.g. 50000.00.'))),
  choices('Required evidence', 'required_evidence', EVIDENCE_KINDS, { type: 'checkbox', checked: c ? c.required_evidence : ['listing_photo', 'order_screenshot', 'payment_screenshot', 'chat_log', 'shipping_info'] }),
  stations.length
    ? choices('Relay stations', 'relay_stations', stations.map((s) => [s.id, `${s.name} (${s.region})${s.active ? '' : ' — inactive'}`]), { type: 'checkbox', checked: c ? c.relay_stations : [] })
    : h('p', { class: 'muted' }, 'No relay stations exist yet: an administrator adds them.'),
  field('Testing lab', lab),
  h('div', { class: 'row' },
    h('div', { class: 'grow' }, field('Hours to accept an offer', acceptance)),
    h('div', { class: 'grow' }, field('Hours to buy once accepted', purchase))),
  h('div', { class: 'field' }, h('label', {}, board, ' Open board: eligible volunteers may claim open slots themselves')),
  h('div', { class: 'field' }, h('label', {}, witnessed, ' Witnessed opening: stations open and seal each parcel in front of a witness')),
  field('Test plan (what the lab tests)', plan),
  h('div', { class: 'actions' }, button),
  out);
  return form;
}

/** `#/campaigns/new`. */
export async function create(el) {
  const form = await campaignForm(null, 'Create the campaign', async (body) => {
    const c = await post('/api/campaigns', body);
    toast(`Campaign “${c.name}” created as a draft.`);
    location.hash = `#/campaigns/${c.id}/quotas`;
  });
  mount(el, title('New campaign'), form);
}

// ---- one campaign --------------------------------------------------------------

const TABS = [
  ['overview', 'Overview'], ['quotas', 'Quotas'], ['candidates', 'Candidates'], ['assignment', 'Assignment'],
  ['tasks', 'Tasks'], ['progress', 'Progress'], ['parcels', 'Parcels & results'], ['money', 'Money'], ['settings', 'Settings'],
];

/** `#/campaigns/{id}[/{tab}]`. */
export async function show(el, params, q) {
  const tab = params.tab || 'overview';
  const c = await get(`/api/campaigns/${encodeURIComponent(params.id)}`);
  const body = h('div');
  const known = TABS.some(([k]) => k === tab);
  mount(el,
    title(c.name, ' ', badge(c.status, STATUS_TONE[c.status])),
    h('nav', { 'aria-label': 'Campaign' }, h('ul', { class: 'tabs' }, TABS.map(([key, text]) => h('li', {},
      h('a', { href: `#/campaigns/${c.id}/${key}`, 'aria-current': key === tab ? 'page' : null }, text))))),
    body);
  document.title = `${c.name} · Mystery Buyer`;
  if (!known) {
    mount(body, h('p', {}, 'No such tab.'));
    return;
  }
  await PAGES[tab](body, c, q);
}

const PAGES = {
  overview, settings, quotas, candidates, assignment, tasks, progress, parcels, money: moneyPage,
};

async function overview(el, c) {
  const [stations, labs, cats] = await Promise.all([get('/api/stations'), get('/api/labs'), categories()]);
  const out = h('div', { 'aria-live': 'polite' });
  const step = (next, text, danger) => {
    const b = h('button', { type: 'button', class: danger ? 'danger' : 'primary' }, text);
    b.addEventListener('click', () => busy(b, out, async () => {
      if (next === 'closed' && !window.confirm('Close this campaign? Nothing new can happen in it afterwards.')) return;
      await patch(`/api/campaigns/${c.id}`, { status: next });
      toast(`The campaign is ${next}.`);
      location.hash = `#/campaigns/${c.id}/overview?${Date.now()}`;
    }));
    return b;
  };
  const fact = (k, v) => [h('dt', {}, k), h('dd', {}, v)];
  mount(el,
    h('div', { class: 'cards' },
      h('div', { class: 'card' },
        h('h2', {}, 'Plan'),
        h('dl', {},
          fact('Period', `${when(c.starts_at)} – ${when(c.ends_at)}`),
          fact('Platforms', c.platforms.join(', ')),
          fact('Budget', money(c.budget, c.currency)),
          fact('Quotas', c.quotas.length ? c.quotas.map((x) => `${categoryName(cats, x.category)}${x.platform ? ` on ${x.platform}` : ''}: ${x.target}`).join('; ') : 'none yet'),
          fact('Candidates', String(c.candidates)),
          fact('Required evidence', c.required_evidence.map(words).join(', ') || 'none'))),
      h('div', { class: 'card' },
        h('h2', {}, 'Route'),
        h('dl', {},
          fact('Relay stations', c.relay_stations.map((id) => stations.find((s) => s.id === id)?.name || id).join(', ') || 'none'),
          fact('Lab', c.lab ? (labs.find((l) => l.id === c.lab)?.name || c.lab) : 'none'),
          fact('Witnessed opening', c.witnessed_opening ? 'yes' : 'no'),
          fact('Test plan', c.test_plan || '—'),
          fact('Windows', `${c.acceptance_window_hours} h to accept, ${c.purchase_window_hours} h to buy`),
          fact('Open board', c.open_board ? 'yes' : 'no')))),
    h('div', { class: 'card' },
      h('h2', {}, 'Status'),
      h('p', {}, {
        draft: 'A draft: plan quotas and candidates, then activate it to assign tasks.',
        active: 'Active: tasks are assigned, bought and sent to the lab.',
        closed: 'Closed: nothing new happens; the record stays.',
      }[c.status]),
      h('div', { class: 'actions' },
        c.status === 'draft' ? step('active', 'Activate the campaign') : null,
        c.status !== 'closed' ? step('closed', 'Close the campaign', true) : null),
      out),
    h('div', { class: 'card' },
      h('h2', {}, 'Exports'),
      h('ul', {},
        h('li', {}, h('a', { href: `/api/campaigns/${c.id}/finance.csv`, download: '' }, 'Finance (CSV): every reimbursement request')),
        h('li', {}, h('a', { href: `/api/campaigns/${c.id}/results.csv`, download: '' }, 'Published results (CSV) for platforms and regulators')))));
}

async function settings(el, c) {
  if (c.status === 'closed') {
    mount(el, h('p', {}, 'A closed campaign cannot change.'));
    return;
  }
  const form = await campaignForm(c, 'Save changes', async (body) => {
    await patch(`/api/campaigns/${c.id}`, body);
    toast('Saved.');
    location.hash = `#/campaigns/${c.id}/overview`;
  });
  mount(el, form);
}

// ---- quotas --------------------------------------------------------------------

async function quotas(el, c) {
  const cats = await categories();
  const rows = h('tbody');
  const out = h('div', { 'aria-live': 'polite' });
  let n = 0;
  function row(qt) {
    n += 1;
    const cat = h('select', { name: 'category', 'aria-label': `Category of quota ${n}`, required: true },
      cats.map((x) => h('option', { value: x.id, selected: qt && qt.category === x.id }, x.name)));
    const platform = h('select', { name: 'platform', 'aria-label': `Platform of quota ${n}` },
      h('option', { value: '' }, 'all platforms'),
      c.platforms.map((p) => h('option', { value: p, selected: qt && qt.platform === p }, p)));
    const target = h('input', { type: 'number', name: 'target', min: '0', max: '100000', required: true, value: qt ? qt.target : 1, 'aria-label': `Lots wanted, quota ${n}` });
    const cap = h('input', { type: 'number', name: 'price_cap', min: '0', step: '0.01', value: qt ? major(qt.price_cap) : '', 'aria-label': `Price cap, quota ${n}` });
    const remove = h('button', { type: 'button', class: 'danger', 'aria-label': `Remove quota ${n}` }, 'Remove');
    const tr = h('tr', {}, h('td', {}, cat), h('td', {}, platform), h('td', {}, target), h('td', {}, cap), h('td', {}, remove));
    remove.addEventListener('click', () => tr.remove());
    rows.appendChild(tr);
    return cat;
  }
  for (const qt of c.quotas) row(qt);
  const add = h('button', { type: 'button', onclick: () => row(null).focus() }, 'Add a quota');
  const save = h('button', { type: 'submit', class: 'primary', disabled: c.status === 'closed' }, 'Save quotas');
  mount(el,
    h('p', {}, 'How many lots of each category the campaign wants, optionally per platform (a category’s platform quotas share its total when it has one). A price cap is the most one lot may cost.'),
    h('form', {
      onsubmit: (event) => {
        event.preventDefault();
        busy(save, out, async () => {
          const body = [...rows.querySelectorAll('tr')].map((tr) => {
            const spec = {
              category: tr.querySelector('[name=category]').value,
              target: Number(tr.querySelector('[name=target]').value),
            };
            const p = tr.querySelector('[name=platform]').value;
            if (p) spec.platform = p;
            const capText = tr.querySelector('[name=price_cap]').value;
            if (capText !== '') spec.price_cap = minor(capText);
            return spec;
          });
          const saved = await put(`/api/campaigns/${c.id}/quotas`, body);
          toast(`${saved.length} quota${saved.length === 1 ? '' : 's'} saved.`);
          mount(out, h('div', { class: 'alert ok', role: 'status' }, `Saved ${saved.length} quota${saved.length === 1 ? '' : 's'}.`));
        });
      },
    },
    h('div', { class: 'scroll' }, h('table', {},
      h('caption', {}, 'Quotas'),
      h('thead', {}, h('tr', {}, ['Category', 'Platform', 'Lots wanted', `Price cap (${c.currency})`, ''].map((t) => h('th', { scope: 'col' }, t)))),
      rows)),
    h('div', { class: 'actions' }, add, save),
    out));
}

// ---- candidates ------------------------------------------------------------------

async function candidates(el, c, q) {
  const cats = await categories();
  const out = h('div', { 'aria-live': 'polite' });
  const file = h('input', { type: 'file', name: 'file', accept: '.csv,text/csv', required: true });
  const importButton = h('button', { type: 'submit', class: 'primary', disabled: c.status === 'closed' }, 'Import');
  const listEl = h('div');
  const category = h('select', { name: 'category' }, h('option', { value: '' }, 'all'), cats.map((x) => h('option', { value: x.id, selected: q.get('category') === x.id }, x.name)));
  const platform = h('select', { name: 'platform' }, h('option', { value: '' }, 'all'), c.platforms.map((p) => h('option', { value: p, selected: q.get('platform') === p }, p)));

  let next = null;
  let shown = [];
  async function load(reset) {
    if (reset) { shown = []; next = null; }
    const page = await get(`/api/campaigns/${c.id}/candidates${query({ category: category.value, platform: platform.value, after: next, limit: 100 })}`);
    shown = shown.concat(page.candidates);
    next = page.next;
    mount(listEl,
      table(`Candidates, riskiest first (${shown.length}${next ? '+' : ''})`, [
        ['Risk', (x) => x.risk_score.toFixed(1), 'num'],
        ['Category', (x) => categoryName(cats, x.category)],
        ['Platform', (x) => x.platform],
        ['Shop', (x) => x.shop_name],
        ['Listing', (x) => h('a', { href: x.listing_url, rel: 'noreferrer noopener', target: '_blank' }, shortUrl(x.listing_url))],
        ['Price', (x) => money(x.listed_price, c.currency), 'num'],
        ['Below normal', (x) => (x.price_deviation === null ? '—' : `${Math.round(-x.price_deviation * 100)} %`), 'num'],
        ['Complaints', (x) => String(x.complaints), 'num'],
        ['Source', (x) => words(x.source)],
      ], shown, { empty: 'No candidates match.' }),
      next ? h('div', { class: 'actions' }, h('button', { type: 'button', onclick: () => load(false) }, 'Show more')) : null);
  }
  category.addEventListener('change', () => load(true));
  platform.addEventListener('change', () => load(true));

  mount(el,
    h('form', {
      class: 'card',
      onsubmit: (event) => {
        event.preventDefault();
        busy(importButton, out, async () => {
          const chosen = file.files[0];
          if (!chosen) throw { title: 'Choose a CSV file first' };
          const text = await chosen.text();
          const report = await post(`/api/campaigns/${c.id}/candidates/import`, text, { type: 'text/csv' });
          mount(out, h('div', { class: 'alert ok', role: 'status' }, `Imported ${report.imported} candidate${report.imported === 1 ? '' : 's'}.`));
          file.value = '';
          await load(true);
        });
      },
    },
    h('h2', {}, 'Import candidates'),
    h('p', { class: 'small' }, 'A CSV file with a header row. Required columns: ', h('code', {}, 'category, platform, listing_url, shop_id, shop_name, listed_price, source'),
      '; optional: ', h('code', {}, 'price_deviation, complaints, bad_rating_share, sales_volume, claims'),
      '. Prices in minor units (fen). The file is taken whole or not at all: every wrong row is listed.'),
    field('CSV file', file),
    h('div', { class: 'actions' }, importButton),
    out),
    h('div', { class: 'row' }, h('div', { class: 'grow' }, field('Category', category)), h('div', { class: 'grow' }, field('Platform', platform))),
    listEl);
  await load(true);
}

function shortUrl(u) {
  try {
    const url = new URL(u);
    return `${url.host}${url.pathname}`.slice(0, 48);
  } catch {
    return u.slice(0, 48);
  }
}

// ---- assignment ------------------------------------------------------------------

const REASONS = {
  no_candidates: 'no candidate listings left',
  no_eligible_volunteer: 'no volunteer may take them (categories, platforms, spending cap, shop rule)',
  capacity: 'volunteers have no capacity left',
  nested_quota_full: 'the category’s total is already reached',
};

async function assignment(el, c) {
  const cats = await categories();
  const out = h('div', { 'aria-live': 'polite' });
  const result = h('div');
  const forbidden = [];
  let commitId = newId();
  const previewButton = h('button', { type: 'button', class: 'primary' }, 'Preview the assignment');

  async function preview() {
    const plan = await post(`/api/campaigns/${c.id}/assignment/preview`, { forbidden });
    commitId = newId();
    const commit = h('button', { type: 'button', class: 'primary', disabled: !plan.tasks.length || !plan.budget.fits || c.status !== 'active' },
      `Commit ${plan.tasks.length} offer${plan.tasks.length === 1 ? '' : 's'}`);
    const again = h('button', { type: 'button' }, 'Preview again without the unticked');
    const keep = new Map();
    const planTable = table('Planned offers', [
      ['Keep', (t) => {
        const box = h('input', { type: 'checkbox', checked: true, 'aria-label': `Keep the offer of ${t.shop_name} to ${t.pseudonym || t.volunteer_id}` });
        keep.set(t, box);
        return box;
      }],
      ['Volunteer', (t) => t.pseudonym || t.volunteer_id],
      ['Category', (t) => categoryName(cats, t.category)],
      ['Platform', (t) => t.platform],
      ['Shop', (t) => t.shop_name],
      ['Listed price', (t) => money(t.listed_price, c.currency), 'num'],
      ['Commits', (t) => money(t.price_cap, c.currency), 'num'],
      ['Risk', (t) => t.risk_score.toFixed(1), 'num'],
    ], plan.tasks, { empty: 'Nobody gets anything: see the open slots below.' });
    again.addEventListener('click', () => busy(again, out, async () => {
      for (const [t, box] of keep) if (!box.checked) forbidden.push({ candidate_id: t.candidate_id, volunteer_id: t.volunteer_id });
      await preview();
    }));
    commit.addEventListener('click', () => busy(commit, out, async () => {
      const tasks = [...keep].filter(([, box]) => box.checked).map(([t]) => ({ candidate_id: t.candidate_id, volunteer_id: t.volunteer_id }));
      const done = await post(`/api/campaigns/${c.id}/assignment/commit`, { commit_id: commitId, tasks });
      mount(result, h('div', { class: 'alert ok', role: 'status' },
        h('strong', {}, `${done.tasks.length} offer${done.tasks.length === 1 ? '' : 's'} sent.`),
        ` Each volunteer has been told; unanswered offers expire ${done.tasks.length ? when(done.tasks[0].offer_expires_at) : ''}. `,
        h('a', { href: `#/campaigns/${c.id}/tasks` }, 'See the tasks')));
      result.querySelector('[role=status]').focus?.();
    }));
    mount(result,
      h('div', { class: 'cards' },
        h('div', { class: 'card' }, h('div', { class: 'big' }, String(plan.tasks.length)), 'offers planned'),
        h('div', { class: 'card' }, h('div', { class: 'big' }, String(plan.volunteers)), 'volunteers available'),
        h('div', { class: 'card' }, h('div', { class: 'big' }, String(plan.candidates)), 'candidates not yet taken'),
        h('div', { class: 'card' }, h('div', { class: 'big' }, money(plan.budget.remaining, c.currency)), 'budget left; the plan commits ',
          money(plan.budget.planned, c.currency), plan.budget.fits ? '' : h('strong', { class: 'bad' }, ' — more than is left'))),
      c.status !== 'active' ? h('div', { class: 'alert info' }, 'Activate the campaign (Overview) to commit offers.') : null,
      forbidden.length ? h('p', { class: 'muted' }, `${forbidden.length} pairing${forbidden.length === 1 ? ' is' : 's are'} excluded.`) : null,
      planTable,
      h('div', { class: 'actions' }, plan.tasks.length ? again : null, commit),
      h('h2', {}, 'Slots left open'),
      table('Quotas with open slots', [
        ['Category', (u) => categoryName(cats, u.category)],
        ['Platform', (u) => u.platform || 'all'],
        ['Open before', (u) => String(u.remaining), 'num'],
        ['Filled by the plan', (u) => String(u.filled), 'num'],
        ['Still open', (u) => String(u.unfilled), 'num'],
        ['Why', (u) => h('ul', {}, Object.entries(u.reasons).map(([r, k]) => h('li', {}, `${k}: ${REASONS[r] || words(r)}`)))],
      ], plan.unfilled.filter((u) => u.unfilled > 0), { empty: 'Every quota is filled by the plan.' }));
  }
  previewButton.addEventListener('click', () => busy(previewButton, out, preview));
  mount(el,
    h('p', {}, 'The engine finds the plan with the most tasks, riskiest listings first, spreading the load evenly; nobody buys twice from one shop in a campaign. Nothing changes until you commit.'),
    h('div', { class: 'actions' }, previewButton),
    out,
    result);
}

// ---- tasks -------------------------------------------------------------------------

async function tasks(el, c, q) {
  await taskTable(el, {
    campaign_id: c.id, status: q.get('status') || '', volunteer_id: q.get('volunteer_id') || '', offset: q.get('offset') || 0,
  }, `#/campaigns/${c.id}/tasks`);
}

// ---- progress ----------------------------------------------------------------------

async function progress(el, c) {
  const [p, cats] = await Promise.all([get(`/api/campaigns/${c.id}/progress`), categories()]);
  const label = (x) => `${categoryName(cats, x.category)}${x.platform ? ` · ${x.platform}` : ''}`;
  const statusOrder = ['offered', 'accepted', 'purchased', 'shipped', 'at_relay', 'forwarded', 'at_lab', 'tested', 'closed', 'declined', 'expired', 'cancelled'];
  const stageOrder = ['awaiting', 'at_station', 'forwarded', 'at_lab', 'tested', 'published'];
  const byCategory = new Map();
  for (const r of p.results) {
    const k = categoryName(cats, r.category);
    const v = byCategory.get(k) || { tested: 0, unqualified: 0 };
    v.tested += r.tested;
    v.unqualified += r.unqualified;
    byCategory.set(k, v);
  }
  mount(el,
    h('p', { class: 'muted small' }, `As of ${when(p.generated_at)}.`),
    h('div', { class: 'cards' },
      h('div', { class: 'card' }, h('div', { class: 'big' }, money(p.money.spent, c.currency)), 'spent'),
      h('div', { class: 'card' }, h('div', { class: 'big' }, money(p.money.committed, c.currency)), 'committed'),
      h('div', { class: 'card' }, h('div', { class: 'big' }, money(p.money.remaining, c.currency)), 'left of ', money(p.money.budget, c.currency)),
      h('div', { class: 'card' }, h('div', { class: 'big' }, String(p.overdue.length)), 'tasks overdue'),
      h('div', { class: 'card' }, h('div', { class: 'big' }, String(p.missing_evidence.length)), 'bought tasks missing evidence')),
    h('section', { class: 'card', 'aria-labelledby': 'chart-quota' },
      h('h2', { id: 'chart-quota' }, 'Quota fill by category and platform'),
      charts.progressBars(p.quotas.map((x) => ({ label: label(x), target: x.target, done: x.purchased, held: x.filled })),
        { title: 'Quota fill', doneText: 'bought', heldText: 'offered or accepted' })),
    h('section', { class: 'card', 'aria-labelledby': 'chart-status' },
      h('h2', { id: 'chart-status' }, 'Tasks by status'),
      charts.bars(statusOrder.filter((s) => p.tasks_by_status[s]).map((s) => ({ label: words(s), value: p.tasks_by_status[s] })),
        { title: 'Tasks by status', empty: 'No tasks yet.' }),
      p.timeline && p.timeline.length > 1
        ? [h('h3', {}, 'Over time'), charts.stackedArea(p.timeline, statusOrder, { title: 'Tasks by status over time' })]
        : null),
    h('section', { class: 'card', 'aria-labelledby': 'chart-stage' },
      h('h2', { id: 'chart-stage' }, 'Samples by custody stage'),
      charts.bars(stageOrder.filter((s) => p.samples_by_stage[s]).map((s) => ({ label: words(s), value: p.samples_by_stage[s] })),
        { title: 'Samples by custody stage', empty: 'No samples on their way yet.' })),
    h('section', { class: 'card', 'aria-labelledby': 'chart-failure' },
      h('h2', { id: 'chart-failure' }, 'Failure rate by category'),
      charts.rates([...byCategory].map(([k, v]) => ({ label: k, part: v.unqualified, whole: v.tested })),
        { title: 'Failure rate by category', empty: 'No results yet.' })),
    p.overdue.length ? h('section', { class: 'card' }, h('h2', {}, 'Overdue'),
      table('Overdue tasks', [
        ['Task', (o) => h('a', { href: `#/tasks/${o.task_id}` }, o.task_id.slice(0, 8))],
        ['Status', (o) => badge(o.status, 'warn')],
        ['Deadline', (o) => when(o.deadline)],
      ], p.overdue)) : null,
    p.missing_evidence.length ? h('section', { class: 'card' }, h('h2', {}, 'Missing evidence'),
      table('Bought tasks missing evidence', [
        ['Task', (o) => h('a', { href: `#/tasks/${o.task_id}` }, o.task_id.slice(0, 8))],
        ['Missing', (o) => o.missing.map(words).join(', ')],
      ], p.missing_evidence)) : null);
}

// ---- parcels and results ---------------------------------------------------------------

async function parcels(el, c) {
  const [list, exceptions, cats, stations] = await Promise.all([
    get(`/api/campaigns/${c.id}/parcels`), get(`/api/campaigns/${c.id}/exceptions`), categories(), get('/api/stations'),
  ]);
  const out = h('div', { 'aria-live': 'polite' });
  const publish = (p) => {
    if (!p.result) return '—';
    if (p.result.published) return badge('published', 'ok');
    const b = h('button', { type: 'button', 'aria-label': `Publish the result of ${p.sample_code}` }, 'Publish');
    b.addEventListener('click', () => busy(b, out, async () => {
      await post(`/api/tasks/${p.task_id}/result/publish`);
      toast(`The result of ${p.sample_code} is published.`);
      b.replaceWith(badge('published', 'ok'));
    }));
    return b;
  };
  mount(el,
    out,
    table('Parcels', [
      ['Sample', (p) => (p.sample_code ? h('span', { class: 'code' }, p.sample_code) : '—')],
      ['Task', (p) => h('a', { href: `#/tasks/${p.task_id}` }, p.task_id.slice(0, 8))],
      ['Category', (p) => categoryName(cats, p.category_id)],
      ['Stage', (p) => badge(p.stage)],
      ['Station', (p) => stations.find((s) => s.id === p.station_id)?.name || p.station_id],
      ['Result', (p) => (p.result ? badge(p.result.verdict, p.result.verdict === 'qualified' ? 'ok' : 'bad') : '—')],
      ['Failed items', (p) => (p.result ? p.result.failed_items.join('; ') : '')],
      ['Published', publish],
    ], list, { empty: 'No parcels yet: they appear once volunteers accept tasks.' }),
    h('h2', {}, 'Exceptions'),
    table('Exceptions', [
      ['Task', (x) => h('a', { href: `#/tasks/${x.task_id}` }, x.task_id.slice(0, 8))],
      ['Kind', (x) => badge(x.kind, x.resolved_at ? '' : 'bad')],
      ['Reported', (x) => `${when(x.reported_at)} by ${words(x.reported_by_role)}`],
      ['Note', (x) => x.note],
      ['Resolution', (x) => x.resolution || resolveForm(x)],
    ], exceptions, { empty: 'No exceptions.' }),
    h('p', {}, h('a', { href: `/api/campaigns/${c.id}/results.csv`, download: '' }, 'Download the published results (CSV)')));
}

function resolveForm(x) {
  const text = h('input', { type: 'text', name: 'resolution', required: true, maxlength: '2000', 'aria-label': `Resolution of the ${words(x.kind)} exception` });
  const b = h('button', { type: 'submit' }, 'Resolve');
  const out = h('div');
  return h('form', {
    class: 'row',
    onsubmit: (event) => {
      event.preventDefault();
      busy(b, out, async () => {
        const done = await post(`/api/exceptions/${x.id}/resolve`, { resolution: text.value.trim() });
        event.target.replaceWith(document.createTextNode(done.resolution || 'resolved'));
      });
    },
  }, h('div', { class: 'grow' }, text), b, out);
}

// ---- money -------------------------------------------------------------------------------

async function moneyPage(el, c) {
  const [p, csv] = await Promise.all([get(`/api/campaigns/${c.id}/progress`), get(`/api/campaigns/${c.id}/finance.csv`)]);
  const rows = parseCsv(csv);
  const out = h('div', { 'aria-live': 'polite' });
  const r = p.reimbursements;
  const decide = (row, decision, text) => {
    const b = h('button', { type: 'button', class: decision === 'reject' ? 'danger' : '', 'aria-label': `${text}: reimbursement of ${row.volunteer} for ${money(Number(row.amount), row.currency)}` }, text);
    b.addEventListener('click', () => busy(b, out, async () => {
      const body = { decision };
      if (decision === 'reject') {
        const reason = window.prompt('Why is it rejected? The volunteer reads this.');
        if (!reason) return;
        body.reason = reason;
      }
      const view = await post(`/api/reimbursements/${row.reimbursement_id}/decision`, body);
      toast(`Reimbursement ${view.status}.`);
      location.hash = `#/campaigns/${c.id}/money?${Date.now()}`;
    }));
    return b;
  };
  mount(el,
    h('div', { class: 'cards' },
      h('div', { class: 'card' }, h('div', { class: 'big' }, String(r.requested)), `to decide (${money(r.requested_amount, c.currency)})`),
      h('div', { class: 'card' }, h('div', { class: 'big' }, String(r.approved)), `approved, to pay (${money(r.approved_amount, c.currency)})`),
      h('div', { class: 'card' }, h('div', { class: 'big' }, String(r.paid)), `paid (${money(r.paid_amount, c.currency)})`),
      h('div', { class: 'card' }, h('div', { class: 'big' }, String(r.rejected)), 'rejected')),
    out,
    table('Reimbursement requests', [
      ['Requested', (x) => when(x.requested_at)],
      ['Volunteer', (x) => x.volunteer],
      ['Task', (x) => h('a', { href: `#/tasks/${x.task_id}` }, x.task_id.slice(0, 8))],
      ['Amount', (x) => money(Number(x.amount), x.currency), 'num'],
      ['Price cap', (x) => money(Number(x.price_cap), c.currency), 'num'],
      ['Status', (x) => badge(x.status, { approved: 'warn', paid: 'ok', rejected: 'bad' }[x.status])],
      ['Reason', (x) => x.reason],
      ['', (x) => h('div', { class: 'actions' },
        x.status === 'requested' ? [decide(x, 'approve', 'Approve'), decide(x, 'reject', 'Reject')] : null,
        x.status === 'approved' ? decide(x, 'paid', 'Mark paid') : null)],
    ], rows, { empty: 'No reimbursement requests yet.' }),
    h('p', {}, h('a', { href: `/api/campaigns/${c.id}/finance.csv`, download: '' }, 'Download the finance export (CSV)')));
}

