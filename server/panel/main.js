// The pages' entry point: reads the address, finds out who is signed in,
// and shows their page. Coordinators and administrators get the panel
// (pages addressed by the part after `#`), relay operators the station
// page, lab inspectors the lab page. Invitation and recovery links (the
// addresses the server mails) show their own pages before anyone signs in.

import { get, post, mayBeSignedIn, forgetSession, onSignedOut } from './api.js';
import { h, mount, errorBox, toast } from './dom.js';
import * as auth from './pages/auth.js';

const main = document.getElementById('main');
const top = document.getElementById('top');

/** A fresh container for one page; a slow page that finishes after the
 *  next one was shown writes into a container no longer on screen. */
function view(kind = '') {
  main.className = kind;
  const el = h('div', { class: 'view' });
  mount(main, el);
  return el;
}

/** Where each role starts. */
export function home(role) {
  switch (role) {
    case 'relay_operator': return '/station';
    case 'lab_inspector': return '/lab';
    case 'administrator': return '/#/users';
    default: return '/#/campaigns';
  }
}

function signedIn(session) {
  location.replace(home(session && session.role));
}

function showSignIn(message) {
  top.replaceChildren();
  if (location.pathname !== '/sign-in') history.replaceState(null, '', '/sign-in');
  auth.signIn(view('narrow'), signedIn, message);
}

const NAV = {
  coordinator: [['#/campaigns', 'Campaigns'], ['#/tasks', 'Tasks'], ['#/reviews', 'Reviews'], ['#/volunteers', 'Volunteers'], ['#/account', 'My account']],
  administrator: [['#/users', 'Users'], ['#/stations', 'Stations'], ['#/labs', 'Labs'], ['#/volunteers', 'Volunteers'], ['#/account', 'My account']],
};

function drawTop(me, nav) {
  const signOut = h('button', {
    type: 'button',
    onclick: async () => {
      signOut.disabled = true;
      try {
        await post('/api/auth/sign-out');
      } catch (e) {
        if (e.status !== 401) toast(e.detail || e.message);
      }
      forgetSession();
      location.assign('/sign-in');
    },
  }, 'Sign out');
  mount(top, h('div', { class: 'bar' },
    h('a', { class: 'brand', href: nav ? '#/' : location.pathname }, 'Mystery Buyer'),
    nav ? h('nav', { 'aria-label': 'Main' }, h('ul', {}, nav.map(([href, text]) => h('li', {}, h('a', { href }, text))))) : null,
    h('div', { class: 'who' }, h('span', {}, `${me.display_name} · ${roleName(me.role)}`), signOut)));
}

export function roleName(role) {
  return {
    administrator: 'administrator', coordinator: 'coordinator', relay_operator: 'relay operator',
    lab_inspector: 'lab inspector', volunteer: 'volunteer',
  }[role] || role;
}

/** Marks the nav link of the current page. */
function markNav() {
  const hash = location.hash || '#/';
  for (const a of top.querySelectorAll('nav a')) {
    const here = hash === a.getAttribute('href') || hash.startsWith(`${a.getAttribute('href')}/`) || hash.startsWith(`${a.getAttribute('href')}?`);
    if (here) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
}

/** The panel's pages by address: `[pattern, loader]`; `:name` captures. */
const PANEL = {
  coordinator: [
    ['/campaigns', () => import('./pages/campaigns.js').then((m) => m.list)],
    ['/campaigns/new', () => import('./pages/campaigns.js').then((m) => m.create)],
    ['/campaigns/:id', () => import('./pages/campaigns.js').then((m) => m.show)],
    ['/campaigns/:id/:tab', () => import('./pages/campaigns.js').then((m) => m.show)],
    ['/tasks', () => import('./pages/tasks.js').then((m) => m.list)],
    ['/tasks/:id', () => import('./pages/tasks.js').then((m) => m.show)],
    ['/reviews', () => import('./pages/tasks.js').then((m) => m.reviews)],
    ['/volunteers', () => import('./pages/people.js').then((m) => m.volunteers)],
    ['/account', () => Promise.resolve(auth.account)],
  ],
  administrator: [
    ['/users', () => import('./pages/admin.js').then((m) => m.users)],
    ['/users/:id', () => import('./pages/admin.js').then((m) => m.user)],
    ['/stations', () => import('./pages/admin.js').then((m) => m.stations)],
    ['/labs', () => import('./pages/admin.js').then((m) => m.labs)],
    ['/volunteers', () => import('./pages/people.js').then((m) => m.volunteers)],
    ['/account', () => Promise.resolve(auth.account)],
  ],
};

function match(pattern, path) {
  const p = pattern.split('/');
  const s = path.split('/');
  if (p.length !== s.length) return null;
  const params = {};
  for (let i = 0; i < p.length; i += 1) {
    if (p[i].startsWith(':')) params[p[i].slice(1)] = decodeURIComponent(s[i]);
    else if (p[i] !== s[i]) return null;
  }
  return params;
}

async function route(me) {
  const raw = location.hash.slice(1) || '/';
  const [path, qs] = raw.split('?');
  const routes = PANEL[me.role];
  markNav();
  if (path === '/' || path === '') {
    location.replace(home(me.role));
    return;
  }
  for (const [pattern, load] of routes) {
    const params = match(pattern, path.replace(/\/$/, ''));
    if (!params) continue;
    const el = view();
    try {
      const page = await load();
      await page(el, params, new URLSearchParams(qs || ''), me);
    } catch (e) {
      mount(el, errorBox(e));
    }
    const heading = el.querySelector('h1');
    if (heading && document.activeElement === document.body) heading.focus({ preventScroll: true });
    return;
  }
  mount(view(), h('h1', {}, 'Not found'), h('p', {}, 'There is no page at this address. ', h('a', { href: '#/' }, 'Go to the start page')));
}

async function start(me) {
  if (me.role === 'relay_operator' || me.role === 'lab_inspector') {
    const want = home(me.role);
    if (location.pathname !== want) history.replaceState(null, '', want);
    drawTop(me, null);
    const page = me.role === 'relay_operator' ? await import('./pages/station.js') : await import('./pages/lab.js');
    await page.render(view('phone'), me);
    return;
  }
  if (me.role === 'volunteer') {
    drawTop(me, null);
    mount(view('narrow'), h('h1', {}, 'Use the app'), h('p', {}, 'Volunteers take and record their tasks in the Mystery Buyer phone app. This panel is for the programme\'s staff.'));
    return;
  }
  if (location.pathname !== '/') history.replaceState(null, '', `/${location.hash}`);
  drawTop(me, NAV[me.role]);
  window.addEventListener('hashchange', () => route(me));
  await route(me);
}

async function boot() {
  onSignedOut(() => showSignIn('Your session has ended. Sign in again.'));
  const path = location.pathname;
  let m = path.match(/^\/invitations\/([^/]+)$/);
  if (m) return auth.invitation(view('narrow'), m[1], signedIn);
  m = path.match(/^\/recover\/([^/]+)$/);
  if (m) return auth.recoveryLink(view('narrow'), m[1], signedIn);
  if (path === '/recover') return auth.recoveryRequest(view('narrow'));
  if (!mayBeSignedIn()) return showSignIn();
  let me;
  try {
    me = await get('/api/me');
  } catch (e) {
    if (e.status === 401) return undefined; // onSignedOut shows the sign-in page.
    mount(view('narrow'), errorBox(e));
    return undefined;
  }
  if (path === '/sign-in') {
    location.replace(home(me.role));
    return undefined;
  }
  return start(me);
}

boot();
