// Administrators: people (invite, disable, re-enable, their devices and
// passkeys, a volunteer's personal data as an audited read), relay
// stations and labs with their staff.

import { get, post, patch, del, query } from '../api.js';
import { h, mount, field, choices, checkedValues, table, title, badge, busy, toast, when, words } from '../dom.js';
import { personalDataButton } from './people.js';

const ROLES = [
  ['coordinator', 'Coordinator'], ['relay_operator', 'Relay-station operator'], ['lab_inspector', 'Lab inspector'],
  ['administrator', 'Administrator'], ['volunteer', 'Volunteer'],
];
const PAGE = 100;

function statusTone(s) {
  return { active: 'ok', invited: 'warn', disabled: 'bad' }[s] || '';
}

/** `#/users`: everyone, by role, with the invitation form. */
export async function users(el, _params, q) {
  const role = q.get('role') || '';
  const offset = Number(q.get('offset') || 0);
  const list = await get(`/api/users${query({ role, limit: PAGE, offset })}`);
  const go = (change) => {
    const next = { role, offset: 0, ...change };
    location.hash = `#/users${query({ role: next.role, offset: next.offset || undefined })}`;
  };
  const filter = h('select', { name: 'role', onchange: () => go({ role: filter.value }) },
    h('option', { value: '' }, 'every role'), ROLES.map(([k, t]) => h('option', { value: k, selected: k === role }, t)));

  const email = h('input', { type: 'email', name: 'email', required: true, autocomplete: 'off' });
  const name = h('input', { type: 'text', name: 'display_name', maxlength: '200', autocomplete: 'off' });
  const inviteRole = h('select', { name: 'invite_role', required: true }, ROLES.map(([k, t]) => h('option', { value: k }, t)));
  const out = h('div', { 'aria-live': 'polite' });
  const send = h('button', { type: 'submit', class: 'primary' }, 'Send the invitation');
  const invite = h('form', {
    class: 'card',
    onsubmit: (event) => {
      event.preventDefault();
      busy(send, out, async () => {
        const body = { role: inviteRole.value, email: email.value.trim() };
        if (name.value.trim() && inviteRole.value !== 'volunteer') body.display_name = name.value.trim();
        const made = await post('/api/invitations', body);
        mount(out, h('div', { class: 'alert ok', role: 'status' },
          `Invitation mailed to ${body.email} as ${words(made.role)}; valid until ${when(made.expires_at)}. `,
          h('a', { href: `#/users/${made.user_id}` }, 'Open their page')));
        invite.reset();
      });
    },
  },
  h('h2', {}, 'Invite someone'),
  h('p', { class: 'small' }, 'The link goes to their address only and lets them create a passkey. Volunteers get a pseudonym instead of a name.'),
  h('div', { class: 'row' },
    h('div', { class: 'grow' }, field('Role', inviteRole)),
    h('div', { class: 'grow' }, field('Email address', email)),
    h('div', { class: 'grow' }, field('Name (staff)', name))),
  h('div', { class: 'actions' }, send),
  out);

  mount(el,
    title('Users'),
    invite,
    h('div', { class: 'row' }, h('div', { class: 'grow' }, field('Show', filter))),
    table(`Users${offset ? ` ${offset + 1}–${offset + list.length}` : ''}`, [
      ['Name', (u) => h('a', { href: `#/users/${u.id}` }, u.pseudonym || u.display_name)],
      ['Role', (u) => words(u.role)],
      ['Status', (u) => badge(u.status, statusTone(u.status))],
      ['Email', (u) => u.email || (u.role === 'volunteer' ? '(personal data)' : '—')],
      ['Since', (u) => when(u.created_at)],
    ], list, { empty: 'Nobody matches.' }),
    h('div', { class: 'actions' },
      offset > 0 ? h('button', { type: 'button', onclick: () => go({ offset: Math.max(0, offset - PAGE) }) }, 'Previous') : null,
      list.length === PAGE ? h('button', { type: 'button', onclick: () => go({ offset: offset + PAGE }) }, 'Next') : null));
}

/** `#/users/{id}`: one person, their devices and passkeys. */
export async function user(el, params, _q, me) {
  const id = params.id;
  const [u, devices, keys] = await Promise.all([
    get(`/api/users/${encodeURIComponent(id)}`),
    get(`/api/users/${encodeURIComponent(id)}/devices`),
    get(`/api/users/${encodeURIComponent(id)}/passkeys`),
  ]);
  const out = h('div', { 'aria-live': 'polite' });
  const again = (message) => {
    toast(message);
    location.hash = `#/users/${id}?${Date.now()}`;
  };
  const toggle = u.status === 'disabled'
    ? h('button', { type: 'button', class: 'primary' }, 'Re-enable')
    : h('button', { type: 'button', class: 'danger', disabled: id === me.user_id }, 'Disable');
  toggle.addEventListener('click', () => busy(toggle, out, async () => {
    const enable = u.status === 'disabled';
    if (!enable && !window.confirm(`Disable ${u.pseudonym || u.display_name}? Every session of theirs ends at once.`)) return;
    await post(`/api/users/${id}/${enable ? 'enable' : 'disable'}`);
    again(enable ? 'Re-enabled.' : 'Disabled; their sessions are ended.');
  }));
  const revoke = (d) => {
    if (d.revoked_at) return `ended ${when(d.revoked_at)}`;
    const b = h('button', { type: 'button', class: 'danger', 'aria-label': `Sign out ${d.device_name}` }, 'Sign out');
    b.addEventListener('click', () => busy(b, out, async () => {
      await del(`/api/devices/${d.id}`);
      again(`${d.device_name} is signed out.`);
    }));
    return b;
  };
  const removeKey = (k) => {
    const b = h('button', { type: 'button', class: 'danger', 'aria-label': `Remove passkey ${k.name}` }, 'Remove');
    b.addEventListener('click', () => busy(b, out, async () => {
      if (!window.confirm(`Remove the passkey "${k.name}"? Sessions opened with it end.${keys.length === 1 ? ' It is their only passkey: they will need a recovery link.' : ''}`)) return;
      await del(`/api/users/${id}/passkeys/${k.id}`);
      again('Passkey removed.');
    }));
    return b;
  };
  const fact = (k, v) => [h('dt', {}, k), h('dd', {}, v)];
  mount(el,
    title(u.pseudonym || u.display_name, ' ', badge(u.status, statusTone(u.status))),
    out,
    h('div', { class: 'card' },
      h('dl', {},
        fact('Role', words(u.role)),
        u.email ? fact('Email', u.email) : null,
        fact('Since', when(u.created_at))),
      h('div', { class: 'actions' }, toggle),
      u.role === 'volunteer' ? h('div', {}, h('h2', {}, 'Personal data'), personalDataButton(u.id, u.pseudonym, out)) : null),
    h('h2', {}, 'Passkeys'),
    table('Passkeys', [
      ['Name', (k) => k.name],
      ['Added', (k) => when(k.created_at)],
      ['Last used', (k) => when(k.last_used_at)],
      ['', removeKey],
    ], keys, { hideCaption: true, empty: u.status === 'invited' ? 'None yet: the invitation has not been accepted.' : 'No passkey: they need a recovery link to sign in.' }),
    h('h2', {}, 'Devices and sessions'),
    table('Devices', [
      ['Device', (d) => d.device_name],
      ['Kind', (d) => d.kind],
      ['Signed in', (d) => when(d.created_at)],
      ['Last seen', (d) => when(d.last_seen_at)],
      ['Expires', (d) => when(d.expires_at)],
      ['', revoke],
    ], devices, { hideCaption: true, empty: 'Never signed in.' }));
}

// ---- stations and labs ----------------------------------------------------------

const KINDS = {
  stations: {
    path: '/api/stations', one: 'relay station', many: 'Relay stations', staff: 'relay_operator', staffWord: 'Operators',
    region: 'Region (volunteers of this region send their parcels here)',
  },
  labs: {
    path: '/api/labs', one: 'lab', many: 'Labs', staff: 'lab_inspector', staffWord: 'Inspectors',
    region: 'Region',
  },
};

export const stations = (el, _params, q) => places(el, KINDS.stations, q);
export const labs = (el, _params, q) => places(el, KINDS.labs, q);

async function allOfRole(role) {
  const out = [];
  for (let offset = 0; ; offset += 500) {
    const page = await get(`/api/users${query({ role, limit: 500, offset })}`);
    out.push(...page);
    if (page.length < 500) return out;
  }
}

async function places(el, kind, q) {
  const [list, staff] = await Promise.all([get(kind.path), allOfRole(kind.staff)]);
  const editing = q.get('edit');
  const out = h('div', { 'aria-live': 'polite' });
  const staffName = (id) => staff.find((u) => u.id === id)?.display_name || id.slice(0, 8);

  function form(place) {
    const name = h('input', { type: 'text', name: 'name', required: true, maxlength: '200', value: place ? place.name : '' });
    const region = h('input', { type: 'text', name: 'region', required: true, maxlength: '200', value: place ? place.region : '' });
    const address = h('textarea', { name: 'address', rows: '3', required: true }, place ? place.address.join('\n') : '');
    const active = place ? h('input', { type: 'checkbox', name: 'active', checked: place.active }) : null;
    const save = h('button', { type: 'submit', class: 'primary' }, place ? 'Save' : `Add the ${kind.one}`);
    const f = h('form', {
      class: 'card',
      onsubmit: (event) => {
        event.preventDefault();
        busy(save, out, async () => {
          const body = {
            name: name.value.trim(),
            region: region.value.trim(),
            address: address.value.split('\n').map((x) => x.trim()).filter(Boolean),
            staff: checkedValues(f, 'staff'),
          };
          if (place) {
            body.active = active.checked;
            await patch(`${kind.path}/${place.id}`, body);
            toast('Saved.');
          } else {
            await post(kind.path, body);
            toast(`The ${kind.one} is added.`);
          }
          location.hash = `#/${kind === KINDS.stations ? 'stations' : 'labs'}?${Date.now()}`;
        });
      },
    },
    h('h2', {}, place ? `Change ${place.name}` : `Add a ${kind.one}`),
    field('Name', name),
    field(kind.region, region),
    field('Postal address (one line each)', address),
    staff.length
      ? choices(kind.staffWord, 'staff', staff.filter((u) => u.status !== 'disabled').map((u) => [u.id, `${u.display_name}${u.status === 'invited' ? ' (invited)' : ''}`]), { type: 'checkbox', checked: place ? place.staff : [] })
      : h('p', { class: 'muted' }, `Nobody has the ${words(kind.staff)} role yet: invite them on the Users page.`),
    active ? h('div', { class: 'field' }, h('label', {}, active, ' In use (new parcels are routed here)')) : null,
    h('div', { class: 'actions' }, save, place ? h('a', { class: 'button', href: `#/${kind === KINDS.stations ? 'stations' : 'labs'}` }, 'Cancel') : null));
    return f;
  }

  const editPlace = editing ? list.find((p) => p.id === editing) : null;
  const base = kind === KINDS.stations ? 'stations' : 'labs';
  mount(el,
    title(kind.many),
    out,
    table(kind.many, [
      ['Name', (p) => p.name],
      ['Region', (p) => p.region],
      ['Address', (p) => p.address.join(', ')],
      [kind.staffWord, (p) => p.staff.map(staffName).join(', ') || '—'],
      ['In use', (p) => (p.active ? badge('yes', 'ok') : badge('no', 'bad'))],
      ['', (p) => h('a', { href: `#/${base}?edit=${p.id}`, 'aria-label': `Change ${p.name}` }, 'Change')],
    ], list, { empty: `No ${kind.many.toLowerCase()} yet.` }),
    editPlace ? form(editPlace) : form(null));
  if (editPlace) el.querySelector('form input[name=name]')?.focus();
}
