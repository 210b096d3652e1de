// Coordinators: tasks by status with filters, one task's page (evidence
// thumbnails, missing items, purchases, shipment, parcel, custody chain,
// flags, actions), and the review list of conflicts.

import { get, post, patch, query } from '../api.js';
import { h, mount, field, table, title, badge, busy, toast, money, when, words } from '../dom.js';

export const STATUSES = ['offered', 'accepted', 'purchased', 'shipped', 'at_relay', 'forwarded', 'at_lab', 'tested', 'closed', 'declined', 'expired', 'cancelled'];
const ENDED = new Set(['declined', 'expired', 'cancelled']);
const PAGE = 100;

export function statusTone(s) {
  if (ENDED.has(s)) return 'bad';
  if (s === 'offered') return 'warn';
  if (s === 'tested' || s === 'closed') return 'ok';
  return '';
}

/** The value of a merged field (`{value, stamp}`) or a plain one. */
function v(x) {
  return x && typeof x === 'object' && 'value' in x && 'stamp' in x ? x.value : x;
}

/**
 * The task table with its filters, for `#/tasks` and a campaign's tab.
 * `filters`: `campaign_id`, `status`, `volunteer_id`, `offset`; `base` is
 * the address the filters are written back to.
 */
export async function taskTable(el, filters, base, { campaignPicker = false } = {}) {
  const offset = Number(filters.offset || 0);
  const [tasks, campaigns, volunteers] = await Promise.all([
    get(`/api/tasks${query({ campaign_id: filters.campaign_id, status: filters.status, volunteer_id: filters.volunteer_id, limit: PAGE, offset })}`),
    campaignPicker ? get('/api/campaigns') : Promise.resolve([]),
    get('/api/volunteers/profiles'),
  ]);
  const go = (change) => {
    const next = { ...filters, offset: 0, ...change };
    const sep = base.includes('?') ? '&' : '?';
    const q = query({ campaign_id: campaignPicker ? next.campaign_id : undefined, status: next.status, volunteer_id: next.volunteer_id, offset: next.offset || undefined });
    location.hash = `${base}${q ? sep + q.slice(1) : ''}`;
  };
  const status = h('select', { name: 'status', onchange: () => go({ status: status.value }) },
    h('option', { value: '' }, 'any status'), STATUSES.map((s) => h('option', { value: s, selected: filters.status === s }, words(s))));
  const volunteer = h('select', { name: 'volunteer', onchange: () => go({ volunteer_id: volunteer.value }) },
    h('option', { value: '' }, 'anyone'), volunteers.map((p) => h('option', { value: p.volunteer_id, selected: filters.volunteer_id === p.volunteer_id }, p.pseudonym || p.volunteer_id)));
  const campaign = campaignPicker
    ? h('select', { name: 'campaign', onchange: () => go({ campaign_id: campaign.value }) },
      h('option', { value: '' }, 'any campaign'), campaigns.map((c) => h('option', { value: c.id, selected: filters.campaign_id === c.id }, c.name)))
    : null;
  const pager = h('div', { class: 'actions' },
    offset > 0 ? h('button', { type: 'button', onclick: () => go({ offset: Math.max(0, offset - PAGE) }) }, 'Newer') : null,
    tasks.length === PAGE ? h('button', { type: 'button', onclick: () => go({ offset: offset + PAGE }) }, 'Older') : null);
  mount(el,
    h('div', { class: 'row' },
      campaign ? h('div', { class: 'grow' }, field('Campaign', campaign)) : null,
      h('div', { class: 'grow' }, field('Status', status)),
      h('div', { class: 'grow' }, field('Volunteer', volunteer))),
    table(`Tasks${offset ? ` ${offset + 1}–${offset + tasks.length}` : ''}, newest first`, [
      ['Task', (t) => h('a', { href: `#/tasks/${t.id}` }, t.record.title || t.id.slice(0, 8))],
      ['Status', (t) => badge(t.status, statusTone(t.status))],
      ['Volunteer', (t) => t.assignee_pseudonym || '—'],
      ['Category', (t) => words(t.record.category)],
      ['Platform', (t) => t.record.platform],
      ['Shop', (t) => t.record.shop_name],
      ['Cap', (t) => (t.record.price_cap ? money(t.record.price_cap.minor, t.record.price_cap.currency) : '—'), 'num'],
      ['Deadline', (t) => (t.record.deadline_us ? when(t.record.deadline_us) : '—')],
      ['Updated', (t) => when(t.updated_at)],
    ], tasks, { empty: 'No tasks match.' }),
    pager);
}

/** `#/tasks`: every task, filtered. */
export async function list(el, _params, q) {
  const body = h('div');
  mount(el, title('Tasks'), body);
  await taskTable(body, {
    campaign_id: q.get('campaign_id') || '', status: q.get('status') || '', volunteer_id: q.get('volunteer_id') || '', offset: q.get('offset') || 0,
  }, '#/tasks', { campaignPicker: true });
}

// ---- one task ------------------------------------------------------------------

function section(name, ...children) {
  return h('section', { class: 'card', 'aria-label': name }, h('h2', {}, name), ...children);
}

/** `#/tasks/{id}`. */
export async function show(el, params) {
  const id = params.id;
  const [task, evidence, reviews] = await Promise.all([
    get(`/api/tasks/${encodeURIComponent(id)}`),
    get(`/api/tasks/${encodeURIComponent(id)}/evidence`),
    get(`/api/reviews${query({ task_id: id, status: 'all' })}`),
  ]);
  const r = task.record;
  const history = r.history || [];
  // Only a task someone accepted has a parcel on the anonymous route.
  const accepted = history.some((x) => x.status === 'accepted');
  const parcel = accepted ? await get(`/api/tasks/${encodeURIComponent(id)}/parcel`) : null;
  const records = task.records || [];
  const of = (kind) => records.filter((x) => x.kind === kind && !x.withdrawal);
  const out = h('div', { 'aria-live': 'polite' });
  const fact = (k, value) => [h('dt', {}, k), h('dd', {}, value)];

  mount(el,
    title(r.title || 'Task', ' ', badge(task.status, statusTone(task.status))),
    out,
    h('div', { class: 'cards' },
      section('The task',
        h('dl', {},
          fact('Volunteer', task.assignee_pseudonym || '—'),
          fact('Category', words(r.category) || '—'),
          fact('Platform', r.platform || '—'),
          fact('Shop', r.shop_name || '—'),
          fact('Listing', r.listing_url ? h('a', { href: r.listing_url, rel: 'noreferrer noopener', target: '_blank' }, r.listing_url) : '—'),
          fact('Price cap', r.price_cap ? money(r.price_cap.minor, r.price_cap.currency) : '—'),
          fact('Deadline', r.deadline_us ? when(r.deadline_us) : '—'),
          fact('Generation', String(task.generation)),
          fact('Instructions', r.instructions || '—'))),
      section('Status history',
        h('ol', {}, history.map((x) => h('li', {}, `${words(x.status)} — ${when(x.at_us)}${x.generation > 1 ? ` (generation ${x.generation})` : ''}`))),
        r.delivery ? h('p', {}, 'Ships to ', h('strong', {}, r.delivery.station_name), ' under recipient code ', h('span', { class: 'code' }, r.delivery.recipient_code)) : null)),
    section('Evidence',
      h('p', {}, evidence.complete ? badge('complete', 'ok') : badge('incomplete', 'warn'), ' ',
        evidence.required.length ? `Required: ${evidence.required.map(words).join(', ')}.` : 'Nothing is required.'),
      evidence.missing.length
        ? h('div', {}, h('h3', {}, 'Missing'), h('ul', {}, evidence.missing.map((m) => h('li', {}, `${words(m.kind)}: ${{ no_record: 'not recorded yet', not_uploaded: 'recorded, file not arrived or being checked', refused: 'the file was refused' }[m.reason] || words(m.reason)}`))))
        : null,
      evidence.items.length
        ? h('ul', { class: 'thumbs' }, evidence.items.map((item) => h('li', {},
          item.thumbnail_url
            ? h('a', { href: item.file_url, target: '_blank', rel: 'noopener' }, h('img', { src: item.thumbnail_url, alt: `${words(item.kind)} (${item.status})`, loading: 'lazy', width: '160', height: '160' }))
            : h('div', { class: 'placeholder' }, item.file_url ? h('a', { href: item.file_url, target: '_blank', rel: 'noopener' }, 'Open the file') : words(item.status)),
          h('div', { class: 'small' }, words(item.kind), ' ', badge(item.status, { verified: 'ok', refused: 'bad', pending: 'warn' }[item.status])),
          item.refusal ? h('div', { class: 'small bad' }, item.refusal) : null)))
        : h('p', { class: 'muted' }, 'No evidence recorded yet.')),
    h('div', { class: 'cards' },
      section('Purchases', table('Purchases', [
        ['Order', (p) => v(p.order_number)],
        ['Amount', (p) => money(v(p.amount).minor, v(p.amount).currency), 'num'],
        ['Bought', (p) => when(v(p.purchased_at_us))],
        ['Shop', (p) => v(p.shop_name)],
      ], of('purchase'), { hideCaption: true, empty: 'Not bought yet.' })),
      section('Shipment', ...(of('shipment').length
        ? of('shipment').map((s) => h('dl', {}, fact('Carrier', v(s.carrier) || '—'), fact('Tracking number', v(s.tracking_number) || '—')))
        : [h('p', { class: 'muted' }, 'No shipment recorded yet.')])),
      section('Reimbursements', table('Reimbursements', [
        ['Amount', (x) => money(x.amount.minor, x.amount.currency), 'num'],
        ['Status', (x) => badge(x.status)],
        ['Note', (x) => x.note],
        ['', (x) => decisionButtons(x, out)],
      ], of('reimbursement'), { hideCaption: true, empty: 'None requested.' })),
      of('note').length ? section('Notes', h('ul', {}, of('note').map((n) => h('li', {}, v(n.body))))) : null),
    parcel ? parcelSection(id, parcel, out) : null,
    accepted ? custodySection(id) : null,
    section('Flags', table('Flags', [
      ['Reason', (x) => words(x.reason)],
      ['Raised', (x) => when(x.created_at)],
      ['Resolution', (x) => (x.resolved_at ? `${x.resolution} (${when(x.resolved_at)})` : h('a', { href: '#/reviews' }, 'open — resolve on the review list'))],
    ], reviews, { hideCaption: true, empty: 'Nothing flagged.' })),
    actionsSection(task, parcel, out));
}

function decisionButtons(x, out) {
  const make = (decision, text) => {
    const b = h('button', { type: 'button', class: decision === 'reject' ? 'danger' : '' }, text);
    b.addEventListener('click', () => busy(b, out, async () => {
      const body = { decision };
      if (decision === 'reject') {
        const reason = window.prompt('Why is it rejected? The volunteer reads this.');
        if (!reason) return;
        body.reason = reason;
      }
      await post(`/api/reimbursements/${x.id}/decision`, body);
      toast('Decision saved.');
      location.reload();
    }));
    return b;
  };
  if (x.status === 'requested') return h('div', { class: 'actions' }, make('approve', 'Approve'), make('reject', 'Reject'));
  if (x.status === 'approved') return make('paid', 'Mark paid');
  return '';
}

function parcelSection(taskId, p, out) {
  const fact = (k, value) => [h('dt', {}, k), h('dd', {}, value)];
  const publish = p.result && !p.result.published
    ? h('button', { type: 'button', class: 'primary' }, 'Publish the result')
    : null;
  publish?.addEventListener('click', () => busy(publish, out, async () => {
    await post(`/api/tasks/${taskId}/result/publish`);
    toast('The result is published.');
    location.reload();
  }));
  return section('Parcel and result',
    h('dl', {},
      fact('Stage', badge(p.stage)),
      fact('Recipient code', h('span', { class: 'code' }, p.recipient_code)),
      fact('Sample code', p.sample_code ? h('span', { class: 'code' }, p.sample_code) : '—'),
      fact('Shipped', p.shipped_at ? `${when(p.shipped_at)} with ${p.carrier || '?'} ${p.tracking_number || ''}` : '—'),
      fact('At the station', p.received_at ? `${when(p.received_at)}, ${p.condition || ''}` : '—'),
      p.witness_required ? fact('Witnessed opening', p.sealed_at ? `${p.witness}, ${when(p.sealed_at)}` : 'not yet') : null,
      fact('Forwarded', p.forwarded_at ? `${when(p.forwarded_at)} with ${p.outgoing_carrier} ${p.outgoing_tracking_number}` : '—'),
      fact('At the lab', p.lab_received_at ? when(p.lab_received_at) : '—'),
      fact('Result', p.result
        ? h('span', {}, badge(p.result.verdict, p.result.verdict === 'qualified' ? 'ok' : 'bad'),
          p.result.failed_items.length ? ` failed: ${p.result.failed_items.join('; ')}` : '', ` (${p.result.standard})`,
          p.result.published ? [' ', badge('published', 'ok')] : null)
        : '—'),
      p.result && p.result.report_sha256 ? fact('Report', h('a', { href: `/api/tasks/${taskId}/report`, target: '_blank', rel: 'noopener' }, 'Open the lab report (PDF)')) : null),
    publish ? h('div', { class: 'actions' }, publish) : null,
    p.photos && p.photos.length
      ? h('div', {}, h('h3', {}, 'The station’s photos'), h('ul', { class: 'thumbs' }, p.photos.map((photo, i) => h('li', {},
        h('a', { href: photo.file_url, target: '_blank', rel: 'noopener' },
          photo.thumbnail_url
            ? h('img', { src: photo.thumbnail_url, alt: `Station photo ${i + 1} of the parcel`, loading: 'lazy', width: '160', height: '160' })
            : `Station photo ${i + 1}`)))))
      : null,
    p.exceptions.length ? h('div', {}, h('h3', {}, 'Exceptions'), h('ul', {}, p.exceptions.map((x) => h('li', {},
      badge(x.kind, x.resolved_at ? '' : 'bad'), ` ${x.note} — ${words(x.reported_by_role)}, ${when(x.reported_at)}${x.resolution ? ` — resolved: ${x.resolution}` : ''}`)))) : null);
}

function custodySection(taskId) {
  const body = h('div');
  const load = h('button', { type: 'button' }, 'Show the custody chain');
  load.addEventListener('click', () => busy(load, body, async () => {
    const proof = await get(`/api/tasks/${taskId}/custody`);
    const cp = proof.checkpoint;
    mount(body,
      table('Custody entries (each one hashes the one before)', [
        ['#', (e) => String(e.entry.seq), 'num'],
        ['When', (e) => when(e.entry.at_us)],
        ['Event', (e) => words(e.entry.kind)],
        ['Sample', (e) => e.entry.sample || ''],
        ['Hash', (e) => h('code', { title: e.entry.hash }, `${e.entry.hash.slice(0, 16)}…`)],
      ], proof.entries),
      h('p', { class: 'small' }, `Each entry comes with its audit path to the checkpoint of ${cp.tree_size} entries signed ${when(cp.at_us)} with key `,
        h('code', {}, cp.key_id), '. Anyone with the regulator’s copy of the public key can check the proof (see the custody-log documentation).'),
      h('a', { href: `/api/tasks/${taskId}/custody`, download: `custody-${taskId}.json` }, 'Download the proof (JSON)'));
    load.remove();
  }));
  return section('Custody chain', h('p', { class: 'small' }, 'Every hand-off of this sample, in the tamper-evident log.'), h('div', { class: 'actions' }, load), body);
}

/** What a coordinator can do with a task; reporting an exception needs a
 *  parcel on the route (`parcel`), which only an accepted task has. */
function actionsSection(task, parcel, out) {
  const id = task.id;
  const act = (text, path, confirmText, cls) => {
    const b = h('button', { type: 'button', class: cls }, text);
    b.addEventListener('click', () => busy(b, out, async () => {
      if (confirmText && !window.confirm(confirmText)) return;
      await post(`/api/tasks/${id}/${path}`);
      toast('Done.');
      location.reload();
    }));
    return b;
  };
  const volunteer = h('select', { name: 'volunteer_id', required: true }, h('option', { value: '' }, 'choose…'));
  get('/api/volunteers/profiles').then((list) => {
    for (const p of list) volunteer.append(h('option', { value: p.volunteer_id }, `${p.pseudonym || p.volunteer_id} (${p.region})`));
  }).catch(() => {});
  const reassign = h('button', { type: 'submit' }, 'Reassign');
  const deadline = h('input', { type: 'datetime-local', name: 'deadline' });
  const save = h('button', { type: 'submit' }, 'Change the deadline');
  const kind = h('select', { name: 'kind' }, ['damaged', 'wrong_item', 'returned', 'lost', 'never_arrived'].map((k) => h('option', { value: k }, words(k))));
  const note = h('input', { type: 'text', name: 'note', maxlength: '2000' });
  const report = h('button', { type: 'submit' }, 'Report the exception');
  return section('Actions',
    h('div', { class: 'actions' },
      act('Cancel the task', 'cancel', 'Cancel this task? A task already bought stays bought and goes on the review list.', 'danger'),
      act('Offer it again', 'reopen', 'Offer this task again to the same volunteer?')),
    h('form', {
      class: 'row',
      onsubmit: (event) => {
        event.preventDefault();
        busy(reassign, out, async () => {
          await post(`/api/tasks/${id}/reassign`, { volunteer_id: volunteer.value });
          toast('Reassigned.');
          location.reload();
        });
      },
    }, h('div', { class: 'grow' }, field('Give it to another volunteer', volunteer)), reassign),
    h('form', {
      class: 'row',
      onsubmit: (event) => {
        event.preventDefault();
        busy(save, out, async () => {
          if (!deadline.value) throw { title: 'Choose a date and time' };
          await patch(`/api/tasks/${id}`, { deadline: new Date(deadline.value).toISOString() });
          toast('Deadline changed.');
          location.reload();
        });
      },
    }, h('div', { class: 'grow' }, field('New deadline', deadline)), save),
    parcel && h('form', {
      class: 'row',
      onsubmit: (event) => {
        event.preventDefault();
        busy(report, out, async () => {
          await post(`/api/tasks/${id}/exceptions`, { kind: kind.value, note: note.value.trim() });
          toast('Exception reported.');
          location.reload();
        });
      },
    }, h('div', { class: 'grow' }, field('Exception', kind)), h('div', { class: 'grow' }, field('Note', note)), report));
}

// ---- the review list -------------------------------------------------------------

const REVIEW_WORDS = {
  money_overwritten_blind: 'A money field was overwritten by someone who had not seen its value',
  purchase_after_cancellation: 'The task was cancelled after the volunteer had bought it; the purchase stands',
  two_purchases_for_one_task: 'Two volunteers recorded purchases for one task',
  record_for_reassigned_task: 'A record arrived for a task already given to someone else',
  near_duplicate_photo: 'A photo looks the same as a photo of another task',
};

/** `#/reviews`: what the merge settled that a person must look at. */
export async function reviews(el, _params, q) {
  const all = q.get('status') === 'all';
  const items = await get(`/api/reviews${query({ status: all ? 'all' : 'open', limit: 500 })}`);
  const out = h('div', { 'aria-live': 'polite' });
  const resolve = (x) => {
    if (x.resolved_at) return `${x.resolution} (${when(x.resolved_at)})`;
    const text = h('input', { type: 'text', name: 'resolution', required: true, maxlength: '2000', 'aria-label': `Decision on the flag of task ${x.task_id.slice(0, 8)}` });
    const b = h('button', { type: 'submit' }, 'Resolve');
    return h('form', {
      class: 'row',
      onsubmit: (event) => {
        event.preventDefault();
        busy(b, out, async () => {
          const done = await post(`/api/reviews/${x.id}/resolve`, { resolution: text.value.trim() });
          toast('Resolved.');
          event.target.replaceWith(document.createTextNode(done.resolution));
        });
      },
    }, h('div', { class: 'grow' }, text), b);
  };
  mount(el,
    title('Reviews'),
    h('p', {}, 'Conflicts the merge settled, and suspicious evidence, that a coordinator must look at. ',
      all ? h('a', { href: '#/reviews' }, 'Show the open ones only') : h('a', { href: '#/reviews?status=all' }, 'Show resolved ones too')),
    out,
    table(all ? 'Every review item' : 'Open review items', [
      ['Raised', (x) => when(x.created_at)],
      ['What', (x) => REVIEW_WORDS[x.reason] || words(x.reason)],
      ['Task', (x) => h('a', { href: `#/tasks/${x.task_id}` }, x.task_id.slice(0, 8))],
      ['Details', (x) => h('details', {}, h('summary', {}, 'Show'), h('pre', { class: 'small' }, JSON.stringify(x.details, null, 2)))],
      ['Decision', resolve],
    ], items, { empty: all ? 'Nothing was ever flagged.' : 'Nothing to review.' }));
}
