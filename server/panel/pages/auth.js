// Signing in with a passkey, accepting an invitation, recovering an
// account, and the signed-in person's own passkeys. Every ceremony is the
// API's start, the browser's passkey prompt, then the API's finish with
// `session: "browser"` (which sets the session cookie).

import { get, post, del } from '../api.js';
import * as passkeys from '../passkeys.js';
import { h, mount, field, errorBox, title, when, busy, table, toast } from '../dom.js';

function unsupported() {
  return passkeys.supported()
    ? null
    : h('div', { class: 'alert error', role: 'alert' }, 'This browser cannot use passkeys here. Use a current browser, at the server\'s own https address.');
}

function problemText(e) {
  return passkeys.explain(e);
}

/** The sign-in page. `done(session)` runs once the session is open. */
export function signIn(el, done, message) {
  const email = h('input', { type: 'email', name: 'email', autocomplete: 'username webauthn', required: true, autofocus: true });
  const out = h('div', { 'aria-live': 'polite' });
  const button = h('button', { type: 'submit', class: 'primary' }, 'Sign in with a passkey');
  const form = h('form', {
    class: 'card',
    onsubmit: async (event) => {
      event.preventDefault();
      await busy(button, out, async () => {
        let started;
        try {
          started = await post('/api/auth/sign-in', { email: email.value.trim() });
        } catch (e) {
          if (e.code === 'sign_in_unavailable') {
            throw Object.assign(e, { title: 'No account can sign in with this address', detail: 'Check the address, or recover your account if your passkey is lost.' });
          }
          throw e;
        }
        let credential;
        try {
          credential = await passkeys.get(started);
        } catch (e) {
          throw { title: 'The passkey was not used', detail: problemText(e) };
        }
        const session = await post('/api/auth/sign-in/finish', {
          ceremony_id: started.ceremony_id, credential, device_name: passkeys.deviceName(), session: 'browser',
        });
        done(session);
      });
    },
  },
  field('Email address', email),
  h('div', { class: 'actions' }, button),
  out);
  mount(el,
    title('Sign in'),
    message ? h('div', { class: 'alert info', role: 'status' }, message) : null,
    unsupported(),
    form,
    h('p', {}, 'Lost the device with your passkey? ', h('a', { href: '/recover' }, 'Recover your account')));
  email.focus();
}

/** Registers a passkey through a started ceremony and opens a session. */
async function register(startPath, deviceName, out, button, done) {
  await busy(button, out, async () => {
    const started = await post(startPath);
    let credential;
    try {
      credential = await passkeys.create(started);
    } catch (e) {
      throw { title: 'No passkey was created', detail: problemText(e) };
    }
    const session = await post('/api/auth/passkey/finish', {
      ceremony_id: started.ceremony_id, credential, device_name: deviceName.value.trim() || passkeys.deviceName(), session: 'browser',
    });
    mount(out, h('div', { class: 'alert ok', role: 'status' }, 'Your passkey is saved. Signing you in…'));
    done(session);
  });
}

function linkProblem(e) {
  if (e.code === 'link_used') return { title: 'This link was already used', detail: 'Each link works once. Sign in with your passkey, or ask for a new link.' };
  if (e.code === 'link_expired') return { title: 'This link has expired', detail: 'Ask for a new one.' };
  if (e.status === 404) return { title: 'This link is not valid', detail: 'Check that the whole address was copied from the mail.' };
  return e;
}

/** `/invitations/{token}`: what the invitation is for, and a passkey for it. */
export async function invitation(el, token, done) {
  mount(el, title('Your invitation'), h('p', { class: 'loading' }, 'Checking the invitation…'));
  let info;
  try {
    info = await get(`/api/auth/invitations/${encodeURIComponent(token)}`);
  } catch (e) {
    mount(el, title('Your invitation'), errorBox(linkProblem(e)), h('p', {}, h('a', { href: '/sign-in' }, 'Go to sign-in')));
    return;
  }
  const out = h('div', { 'aria-live': 'polite' });
  const deviceName = h('input', { type: 'text', name: 'device_name', value: passkeys.deviceName(), maxlength: '100', required: true });
  const button = h('button', { type: 'submit', class: 'primary' }, 'Create a passkey and sign in');
  const roleText = {
    administrator: 'an administrator', coordinator: 'a coordinator', relay_operator: 'a relay-station operator',
    lab_inspector: 'a lab inspector', volunteer: 'a volunteer',
  }[info.role] || info.role;
  mount(el,
    title('Welcome'),
    h('div', { class: 'card' },
      h('p', {}, 'You are invited as ', h('strong', {}, roleText), ' under the name ', h('strong', { 'data-testid': 'invitee' }, info.display_name), '.'),
      h('p', { class: 'muted small' }, `The invitation is valid until ${when(info.expires_at)}.`)),
    info.role === 'volunteer'
      ? h('div', { class: 'alert info' }, 'Volunteers accept their invitation in the Mystery Buyer phone app: open this link on your phone.')
      : h('form', {
        class: 'card',
        onsubmit: (event) => {
          event.preventDefault();
          register(`/api/auth/invitations/${encodeURIComponent(token)}/passkey`, deviceName, out, button, done);
        },
      },
      h('p', {}, 'You sign in with a passkey: your device (or a security key) keeps it, and you unlock it with your fingerprint, face or screen lock. There is no password.'),
      unsupported(),
      field('Name of this device', deviceName, 'Shown in your list of signed-in devices.'),
      h('div', { class: 'actions' }, button),
      out));
}

/** `/recover`: asks for a recovery link by mail. */
export function recoveryRequest(el) {
  const email = h('input', { type: 'email', name: 'email', autocomplete: 'username', required: true });
  const out = h('div', { 'aria-live': 'polite' });
  const button = h('button', { type: 'submit', class: 'primary' }, 'Mail me a recovery link');
  mount(el,
    title('Recover your account'),
    h('form', {
      class: 'card',
      onsubmit: async (event) => {
        event.preventDefault();
        await busy(button, out, async () => {
          const answer = await post('/api/auth/recovery', { email: email.value.trim() });
          mount(out, h('div', { class: 'alert ok', role: 'status' }, `${answer.status.charAt(0).toUpperCase()}${answer.status.slice(1)}. The link works once, for a short time.`));
        });
      },
    },
    h('p', {}, 'We mail a link to your address. Opening it lets you create a new passkey on this device.'),
    field('Email address', email),
    h('div', { class: 'actions' }, button),
    out),
    h('p', {}, h('a', { href: '/sign-in' }, 'Back to sign-in')));
  email.focus();
}

/** `/recover/{token}`: a new passkey through a recovery link. */
export async function recoveryLink(el, token, done) {
  let info;
  try {
    info = await get(`/api/auth/recovery/${encodeURIComponent(token)}`);
  } catch (e) {
    mount(el, title('Recover your account'), errorBox(linkProblem(e)), h('p', {}, h('a', { href: '/recover' }, 'Ask for a new link')));
    return;
  }
  const out = h('div', { 'aria-live': 'polite' });
  const deviceName = h('input', { type: 'text', name: 'device_name', value: passkeys.deviceName(), maxlength: '100', required: true });
  const button = h('button', { type: 'submit', class: 'primary' }, 'Create a new passkey and sign in');
  mount(el,
    title('Recover your account'),
    h('form', {
      class: 'card',
      onsubmit: (event) => {
        event.preventDefault();
        register(`/api/auth/recovery/${encodeURIComponent(token)}/passkey`, deviceName, out, button, done);
      },
    },
    h('p', {}, `This link is valid until ${when(info.expires_at)} and works once.`),
    unsupported(),
    field('Name of this device', deviceName),
    h('div', { class: 'actions' }, button),
    out));
}

/** `#/account`: who is signed in, and their passkeys. */
export async function account(el, _params, _query, me) {
  const list = h('div');
  const out = h('div', { 'aria-live': 'polite' });
  const name = h('input', { type: 'text', name: 'passkey_name', value: passkeys.deviceName(), maxlength: '100', required: true });
  const add = h('button', { type: 'submit', class: 'primary' }, 'Add a passkey');

  async function refresh() {
    const keys = await get('/api/me/passkeys');
    mount(list, table('Your passkeys', [
      ['Name', (k) => k.name],
      ['Added', (k) => when(k.created_at)],
      ['Last used', (k) => when(k.last_used_at)],
      ['', (k) => {
        const remove = h('button', { type: 'button', class: 'danger', 'aria-label': `Remove passkey ${k.name}` }, 'Remove');
        remove.addEventListener('click', () => busy(remove, out, async () => {
          if (!window.confirm(`Remove the passkey "${k.name}"? Devices signed in with it are signed out.`)) return;
          await del(`/api/me/passkeys/${encodeURIComponent(k.id)}`);
          toast('Passkey removed.');
          await refresh();
        }));
        return remove;
      }],
    ], keys));
  }

  mount(el,
    title('My account'),
    h('div', { class: 'card' },
      h('p', {}, h('strong', {}, me.display_name), me.email ? ` · ${me.email}` : null),
      h('p', { class: 'muted small' }, `Signed in as ${me.role.replaceAll('_', ' ')}.`)),
    h('h2', {}, 'Passkeys'),
    list,
    h('form', {
      class: 'card',
      onsubmit: (event) => {
        event.preventDefault();
        busy(add, out, async () => {
          const started = await post('/api/me/passkeys');
          let credential;
          try {
            credential = await passkeys.create(started);
          } catch (e) {
            throw { title: 'No passkey was created', detail: problemText(e) };
          }
          await post('/api/me/passkeys/finish', { ceremony_id: started.ceremony_id, credential, name: name.value.trim() });
          toast('Passkey added.');
          await refresh();
        });
      },
    },
    h('h3', {}, 'Add another passkey'),
    h('p', { class: 'small muted' }, 'Keep a second passkey (another device or a security key) so that losing one does not lock you out.'),
    field('Name of the new passkey', name),
    h('div', { class: 'actions' }, add)),
    out);
  await refresh();
}
