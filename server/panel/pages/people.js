// Volunteers, by pseudonym: coordinators see each one's buying profile
// and track record and may invite new volunteers; administrators see the
// list and may read a volunteer's personal data, an explicit action that
// the server writes to the audit log.

import { get, post } from '../api.js';
import { h, mount, field, table, title, badge, busy, toast, money, words } from '../dom.js';

function inviteForm(role) {
  const email = h('input', { type: 'email', name: 'email', required: true, autocomplete: 'off' });
  const out = h('div', { 'aria-live': 'polite' });
  const button = h('button', { type: 'submit', class: 'primary' }, 'Send the invitation');
  return h('form', {
    class: 'card',
    onsubmit: (event) => {
      event.preventDefault();
      busy(button, out, async () => {
        const made = await post('/api/invitations', { role, email: email.value.trim() });
        mount(out, h('div', { class: 'alert ok', role: 'status' }, `Invitation mailed; it is valid until ${new Date(made.expires_at).toLocaleString()}.`));
        email.value = '';
      });
    },
  },
  h('h2', {}, 'Invite a volunteer'),
  h('p', { class: 'small' }, 'The link goes to their address only; they accept it in the phone app and get a pseudonym.'),
  field('Their email address', email),
  h('div', { class: 'actions' }, button),
  out);
}

/** `#/volunteers`. */
export async function volunteers(el, _params, _q, me) {
  if (me.role === 'administrator') {
    await forAdministrators(el);
    return;
  }
  const [profiles, stations] = await Promise.all([get('/api/volunteers/profiles'), get('/api/stations')]);
  mount(el,
    title('Volunteers'),
    h('p', {}, 'Known by pseudonym only; names, addresses and payout details are for administrators.'),
    table(`Volunteers with a buying profile (${profiles.length})`, [
      ['Pseudonym', (p) => h('a', { href: `#/tasks?volunteer_id=${encodeURIComponent(p.volunteer_id)}` }, p.pseudonym || p.volunteer_id)],
      ['Status', (p) => badge(p.status, p.status === 'active' ? 'ok' : 'warn')],
      ['Region', (p) => p.region],
      ['Categories', (p) => p.categories.map(words).join(', ')],
      ['Platforms', (p) => p.platforms.join(', ')],
      ['Capacity', (p) => String(p.capacity), 'num'],
      ['Spending cap', (p) => money(p.spending_cap), 'num'],
      ['Home station', (p) => (p.home_station ? stations.find((s) => s.id === p.home_station)?.name || '—' : '—')],
      ['Done', (p) => String(p.record.done), 'num'],
      ['Open', (p) => String(p.record.open), 'num'],
      ['Late', (p) => String(p.record.late), 'num'],
      ['Declined or expired', (p) => String(p.record.rejected), 'num'],
    ], profiles, { empty: 'No volunteer has a buying profile yet.' }),
    inviteForm('volunteer'));
}

async function forAdministrators(el) {
  const list = await get('/api/volunteers');
  const out = h('div', { 'aria-live': 'polite' });
  mount(el,
    title('Volunteers'),
    h('p', {}, 'Reading a volunteer’s personal data is recorded in the audit log with your name.'),
    out,
    table(`Volunteers (${list.length})`, [
      ['Pseudonym', (v) => v.pseudonym],
      ['Status', (v) => badge(v.status, v.status === 'active' ? 'ok' : 'warn')],
      ['Personal data', (v) => personalDataButton(v.id, v.pseudonym, out)],
    ], list, { empty: 'No volunteers yet.' }));
}

/** The explicit, audited read of a volunteer's personal data. */
export function personalDataButton(userId, pseudonym, out) {
  const cell = h('div');
  const button = h('button', { type: 'button', 'aria-label': `Read the personal data of ${pseudonym}` }, 'Read personal data');
  button.addEventListener('click', () => busy(button, out, async () => {
    if (!window.confirm(`Read ${pseudonym}'s personal data? The read is written to the audit log.`)) return;
    const data = await get(`/api/users/${encodeURIComponent(userId)}/personal-data`);
    const fact = (k, v) => [h('dt', {}, k), h('dd', {}, v || '—')];
    mount(cell, h('dl', { 'data-testid': 'personal-data' },
      fact('Legal name', data.legal_name), fact('Email', data.email), fact('Phone', data.phone), fact('Payout', data.payout_details)));
    toast('The read was recorded in the audit log.');
  }));
  cell.append(button);
  return cell;
}
