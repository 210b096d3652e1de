// The web pages in Firefox, for tests/tests/e2e/panel.rs: Debian's Firefox
// ESR, headless, driven by puppeteer-core over WebDriver BiDi (playwright
// cannot drive a stock Firefox).
//
//   MB_TEST_NODE_MODULES=<node_modules> MB_TEST_FIREFOX=/usr/bin/firefox-esr \
//   node firefox.mjs --base http://localhost:PORT --seed seed.json --out DIR
//
// Firefox has no virtual authenticator over BiDi, so passkeys are the
// Chromium story's part (panel.mjs); here each person arrives with a
// browser session the test opened for them (the HttpOnly session cookie and
// the CSRF cookie, as a passkey sign-in sets them). Every page of every
// role is opened; the relay operator scans, seals and forwards a parcel on
// a 360 px screen and the lab inspector records its result, so the forms
// run in Firefox too. Any console error or uncaught exception fails the
// run. Progress goes to stdout, one JSON line per step; the last line is
// {"ok": true, "steps": [...]}. On failure: screenshots, the error on
// stderr and exit status 1.

import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';

import { everyControlIsLabelled, expect, noHorizontalScroll, stepper } from './checks.mjs';

const nodeModules = process.env.MB_TEST_NODE_MODULES;
const firefoxPath = process.env.MB_TEST_FIREFOX;
if (!nodeModules || !firefoxPath) {
  console.error('MB_TEST_NODE_MODULES and MB_TEST_FIREFOX must be set (cargo xtask services prints them)');
  process.exit(2);
}
// ESM ignores NODE_PATH; resolve puppeteer-core from the cached install.
const require = createRequire(path.join(nodeModules, '..', 'package.json'));
const puppeteer = require('puppeteer-core');

const { values: args } = parseArgs({
  options: { base: { type: 'string' }, seed: { type: 'string' }, out: { type: 'string' } },
});
const base = args.base;
const seed = JSON.parse(fs.readFileSync(args.seed, 'utf8'));
const out = args.out;

const TIMEOUT = 15_000;
/** Console errors and uncaught exceptions: `{actor, step, text}`. */
const consoleErrors = [];


/**
 * Polls `fn(...args)` in the page until it returns something truthy (a DOM
 * node comes back as an element handle). Puppeteer's own waitForFunction
 * builds its poller with `new Function`, which the panel's
 * Content-Security-Policy (script-src 'self') rightly blocks; a plain
 * evaluate goes through WebDriver BiDi's script.callFunction, which it
 * does not.
 */
async function until(page, fn, ...args) {
  const deadline = Date.now() + TIMEOUT;
  for (;;) {
    const handle = await page.evaluateHandle(fn, ...args);
    const element = handle.asElement();
    if (element) return element;
    const value = await handle.jsonValue().catch(() => null);
    await handle.dispose();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${fn.toString().slice(0, 160)} (${JSON.stringify(args)})`);
    await new Promise((resolve) => { setTimeout(resolve, 100); });
  }
}

const browser = await puppeteer.launch({
  browser: 'firefox',
  executablePath: firefoxPath,
  headless: true,
  protocol: 'webDriverBiDi',
});
const version = await browser.version();
const actors = [];
const { step, steps, current } = stepper(out, () => actors);

/** One person in a browser context of their own, signed in with `session` if given. */
async function actor(name, session, viewport = { width: 1280, height: 900 }) {
  const context = await browser.createBrowserContext();
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  await page.setViewport(viewport);
  page.on('console', (message) => {
    if (message.type() === 'error') consoleErrors.push({ actor: name, step: current(), text: message.text() });
  });
  page.on('pageerror', (error) => consoleErrors.push({ actor: name, step: current(), text: `uncaught: ${error.message}` }));
  // Confirmations are accepted.
  page.on('dialog', (dialog) => dialog.accept());
  if (session) {
    const host = new URL(base).hostname;
    await context.setCookie(
      { name: 'mb_session', value: session.cookie, domain: host, path: '/', httpOnly: true, sameSite: 'Strict' },
      { name: 'mb_csrf', value: session.csrf, domain: host, path: '/', sameSite: 'Strict' },
    );
  }
  const a = { name, context, page };
  actors.push(a);
  return a;
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(out, `${name}.png`), fullPage: true });
}


/** Waits until the page's main heading says `text`. */
async function heading(page, text) {
  await until(page, (t) => [...document.querySelectorAll('main h1')].some((h) => h.textContent.includes(t)), text);
}

/** Waits until the page shows `text` somewhere. */
async function shows(page, text) {
  await until(page, (t) => document.body.innerText.includes(t), text);
}

/** Opens `address` (a path or a `#/` route of the panel) and waits for its heading. */
async function visit(page, address, title) {
  if (address.startsWith('#')) {
    const url = new URL(page.url());
    if (url.origin === new URL(base).origin && url.pathname === '/') {
      await page.evaluate((hash) => { window.location.hash = hash; }, address);
    } else {
      await page.goto(`${base}/${address}`);
    }
  } else {
    await page.goto(`${base}${address}`);
  }
  await heading(page, title);
}

/** Fails if the page shows an error box. */
async function noErrorBox(page, what) {
  const text = await page.evaluate(() => [...document.querySelectorAll('.alert.error')].map((e) => e.innerText).join(' | '));
  expect(!text, `${what} shows an error: ${text}`);
}

/** The form control labelled `label` (its label's text, or its aria-label). */
async function control(page, label) {
  const handle = await until(page, (l) => {
    const clean = (s) => s.replace(/\s+/g, ' ').trim();
    for (const el of document.querySelectorAll('label')) {
      const text = clean([...el.childNodes].filter((n) => n.nodeType === Node.TEXT_NODE || n.tagName !== 'SMALL').map((n) => n.textContent).join(''));
      if (text === l && el.control && !el.control.closest('[hidden]')) return el.control;
    }
    return document.querySelector(`[aria-label="${CSS.escape(l)}"]`);
  }, label);
  return handle.asElement();
}

/** The button or link named `name`. */
async function button(page, name) {
  const handle = await until(page, (n) => [...document.querySelectorAll('button, a')]
    .find((b) => (b.getAttribute('aria-label') || b.textContent.trim()) === n && !b.disabled && b.offsetParent !== null), name);
  return handle.asElement();
}

async function type(page, label, text) {
  await (await control(page, label)).type(text);
}

async function click(page, name) {
  await (await button(page, name)).click();
}



/** Waits until every image on the page whose alt starts with `alt` has loaded. */
async function imageLoaded(page, alt) {
  await until(page, (a) => {
    const imgs = [...document.images].filter((i) => i.alt.startsWith(a));
    return imgs.length > 0 && imgs.every((i) => i.complete && i.naturalWidth > 0);
  }, alt);
}

let status = 0;
let sample;
try {
  // ---- signed out: the pages anyone can open --------------------------------------------
  const stranger = await actor('stranger', null);
  const s = stranger.page;

  await step('the sign-in page', async () => {
    await visit(s, '/sign-in', 'Sign in');
    await everyControlIsLabelled(s, 'the sign-in page');
    await control(s, 'Email address');
    await shot(s, 'sign-in');
  });

  await step('the recovery page', async () => {
    await visit(s, '/recover', 'Recover your account');
    await everyControlIsLabelled(s, 'the recovery page');
    await type(s, 'Email address', 'nobody@example.org');
    await click(s, 'Mail me a recovery link');
    await shows(s, 'a recovery link is on its way');
  });

  await step('an invitation', async () => {
    await visit(s, `/invitations/${seed.invitation}`, 'Welcome');
    await shows(s, 'You are invited as a coordinator');
    await everyControlIsLabelled(s, 'the invitation page');
    await shot(s, 'invitation');
  });

  // ---- the coordinator's pages ----------------------------------------------------------
  const coordinator = await actor('coordinator', seed.coordinator);
  const c = coordinator.page;
  const campaign = seed.campaign;

  await step('campaigns, and the focus on the heading', async () => {
    await visit(c, '/', 'Campaigns');
    await shows(c, campaign.name);
    const focused = await c.evaluate(() => document.activeElement && document.activeElement.textContent.trim());
    expect(focused === 'Campaigns', `the focus is on "${focused}", not the page's heading`);
    await c.keyboard.press('Tab');
    expect(await c.evaluate(() => document.activeElement.tagName) === 'SELECT', 'Tab reaches the status filter');
    await noErrorBox(c, 'the campaign list');
    await shot(c, 'campaigns');
  });

  await step('a new campaign\'s form', async () => {
    await visit(c, '#/campaigns/new', 'New campaign');
    await everyControlIsLabelled(c, 'the campaign form');
  });

  for (const tab of ['overview', 'quotas', 'candidates', 'assignment', 'tasks', 'progress', 'parcels', 'money', 'settings']) {
    await step(`the campaign's ${tab}`, async () => {
      await visit(c, `#/campaigns/${campaign.id}/${tab}`, campaign.name);
      await until(c, (t) => {
        const here = document.querySelector('nav[aria-label="Campaign"] [aria-current="page"]');
        return here && here.getAttribute('href').endsWith(`/${t}`);
      }, tab);
      if (tab === 'progress') await until(c, () => document.querySelector('figure[data-chart="Quota fill"] svg'));
      if (tab === 'parcels') await shows(c, 'Exceptions');
      if (tab === 'money') await shows(c, 'Reimbursement requests');
      await noErrorBox(c, `the ${tab} tab`);
      await everyControlIsLabelled(c, `the ${tab} tab`);
      await shot(c, `campaign-${tab}`);
    });
  }

  await step('the tasks, filtered', async () => {
    await visit(c, `#/tasks?campaign_id=${campaign.id}`, 'Tasks');
    await shows(c, 'Spark City');
    await everyControlIsLabelled(c, 'the task list');
    await noErrorBox(c, 'the task list');
  });

  await step('a task\'s page with its evidence thumbnail and custody chain', async () => {
    await visit(c, `#/tasks/${seed.task}`, 'Spark City');
    await imageLoaded(c, 'listing photo');
    await click(c, 'Show the custody chain');
    await shows(c, 'purchase recorded');
    await everyControlIsLabelled(c, 'the task page');
    await noErrorBox(c, 'the task page');
    await shot(c, 'task');
  });

  for (const [address, title] of [['#/reviews', 'Reviews'], ['#/volunteers', 'Volunteers'], ['#/account', 'My account']]) {
    await step(`the coordinator's ${title}`, async () => {
      await visit(c, address, title);
      await noErrorBox(c, title);
      await everyControlIsLabelled(c, title);
    });
  }

  // ---- the relay operator, on a phone-sized screen ---------------------------------------
  const operator = await actor('operator', seed.operator, { width: 360, height: 740 });
  const o = operator.page;

  await step('the station page on a 360 px screen', async () => {
    await visit(o, '/station', seed.station.name);
    await shows(o, 'Nothing waits for a match.');
    await everyControlIsLabelled(o, 'the station page');
    await noHorizontalScroll(o, 'the station page');
    await shot(o, 'station');
  });

  await step('a parcel no order matches is held', async () => {
    await type(o, 'Tracking number or recipient code', 'YT0000000001');
    await click(o, 'Record the scan');
    await until(o, () => [...document.querySelectorAll('h2')].some((h) => h.textContent === 'Hold the parcel'));
    await until(o, () => [...document.querySelectorAll('table')].some((t) => t.caption && t.caption.textContent.startsWith('Scans no order matches yet')
      && t.innerText.includes('YT0000000001')));
    await noHorizontalScroll(o, 'the held parcel');
    await shot(o, 'station-hold');
  });

  await step('scan, seal in front of a witness, and forward', async () => {
    await type(o, 'Tracking number or recipient code', seed.tracking);
    await click(o, 'Record the scan');
    await until(o, () => [...document.querySelectorAll('h2')].some((h) => h.textContent === 'Open and seal it in front of a witness'));
    await type(o, 'Witness’s name (as on the paper record)', 'Zhou Ping');
    await click(o, 'Record the witnessed sealing');
    await until(o, () => [...document.querySelectorAll('h2')].some((h) => h.textContent === 'Relabel and forward'));
    sample = await o.$eval('[data-testid="sample-code"]', (e) => e.textContent.trim());
    expect(/^S-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]$/.test(sample), `a sample code is shown: ${sample}`);
    await imageLoaded(o, `Label for sample ${sample}`);
    await noHorizontalScroll(o, 'the parcel to forward');
    await shot(o, 'station-scanned');
    await type(o, 'Carrier', 'EMS');
    await type(o, 'Tracking number', 'EMS1122334455');
    await click(o, 'Record the hand-over');
    await until(o, () => [...document.querySelectorAll('h2')].some((h) => h.textContent === 'Already forwarded'));
    await shows(o, 'No parcel waits to go on.');
  });

  // ---- the lab inspector ------------------------------------------------------------------
  const inspector = await actor('inspector', seed.inspector, { width: 1024, height: 800 });
  const l = inspector.page;

  await step('the lab receives the sample and records a result', async () => {
    await visit(l, '/lab', seed.lab.name);
    await shows(l, sample);
    await everyControlIsLabelled(l, 'the lab page');
    await type(l, 'Sample code', sample);
    await click(l, 'Open');
    await until(l, (s) => [...document.querySelectorAll('h2')].some((h) => h.textContent.includes(`Sample ${s}`)), sample);
    await click(l, 'Record its arrival');
    await button(l, 'Record the result');
    await (await control(l, 'Qualified')).click();
    await type(l, 'Standard tested against', 'GB 2099.1-2021');
    await everyControlIsLabelled(l, 'the result form');
    await click(l, 'Record the result');
    await button(l, 'Correct the result');
    await shot(l, 'lab');
  });

  // ---- the administrator --------------------------------------------------------------------
  const administrator = await actor('administrator', seed.administrator);
  const a = administrator.page;
  for (const [address, title] of [
    ['/#/users', 'Users'], [`#/users/${seed.operator.user_id}`, seed.operator.name], ['#/stations', 'Relay stations'],
    ['#/labs', 'Labs'], ['#/volunteers', 'Volunteers'], ['#/account', 'My account'],
  ]) {
    await step(`the administrator's ${title}`, async () => {
      await visit(a, address, title);
      await noErrorBox(a, title);
      await everyControlIsLabelled(a, title);
      await shot(a, `admin-${title.toLowerCase().replace(/\W+/g, '-')}`);
    });
  }

  await step('no console errors', async () => {
    expect(consoleErrors.length === 0, `console errors: ${JSON.stringify(consoleErrors, null, 1)}`);
  });
} catch (error) {
  console.error(error.stack || String(error));
  if (consoleErrors.length) console.error(`console errors so far: ${JSON.stringify(consoleErrors, null, 1)}`);
  status = 1;
} finally {
  await browser.close().catch(() => {});
}
if (status === 0) console.log(JSON.stringify({ ok: true, browser: version, sample, steps }));
process.exit(status);
