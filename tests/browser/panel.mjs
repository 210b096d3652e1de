// The web pages in a real browser, for tests/tests/e2e/panel.rs: Debian's
// Chromium, headless, driven by playwright-core, with Chromium's virtual
// authenticator holding each person's passkey.
//
//   MB_TEST_NODE_MODULES=<node_modules> MB_TEST_CHROMIUM=/usr/bin/chromium \
//   node panel.mjs --base http://localhost:PORT --seed seed.json --out DIR
//
// Each person gets their own browser context (cookies) and authenticator.
// Every step asserts what the page shows; screenshots of the main pages go
// to DIR. Errors in the console fail the run, except the ones a step
// provokes on purpose (a refused import answers 422, which Chromium logs).
// Progress goes to stdout, one JSON line per step; the last line is
// {"ok": true, "steps": [...]}. On failure: a screenshot, the error on
// stderr and exit status 1.

import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';

const nodeModules = process.env.MB_TEST_NODE_MODULES;
const chromiumPath = process.env.MB_TEST_CHROMIUM;
if (!nodeModules || !chromiumPath) {
  console.error('MB_TEST_NODE_MODULES and MB_TEST_CHROMIUM must be set (cargo xtask services prints them)');
  process.exit(2);
}
// ESM ignores NODE_PATH; resolve playwright-core from the cached install.
const require = createRequire(path.join(nodeModules, '..', 'package.json'));
const { chromium } = require('playwright-core');

const { values: args } = parseArgs({
  options: { base: { type: 'string' }, seed: { type: 'string' }, out: { type: 'string' } },
});
const base = args.base;
const seed = JSON.parse(fs.readFileSync(args.seed, 'utf8'));
const out = args.out;

const TIMEOUT = 15_000;
const steps = [];
let current = 'start';
/** Console errors nobody expected: `{actor, step, text}`. */
const consoleErrors = [];
/** Console errors a step provokes on purpose, by step name: regexps. */
const expectedErrors = new Map();

function fail(message) {
  throw new Error(message);
}

function expect(condition, message) {
  if (!condition) fail(message);
}

const browser = await chromium.launch({
  executablePath: chromiumPath,
  headless: true,
  args: [
    '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
  ],
});
const actors = [];

/** One person: a browser context of their own, with a passkey authenticator. */
async function actor(name, viewport = { width: 1280, height: 900 }) {
  const context = await browser.newContext({ viewport, baseURL: base });
  context.setDefaultTimeout(TIMEOUT);
  const page = await context.newPage();
  page.on('console', (message) => {
    if (message.type() !== 'error') return;
    const allowed = expectedErrors.get(current) || [];
    if (!allowed.some((re) => re.test(message.text()))) {
      consoleErrors.push({ actor: name, step: current, text: message.text(), location: message.location() });
    }
  });
  page.on('pageerror', (error) => consoleErrors.push({ actor: name, step: current, text: `uncaught: ${error.message}` }));
  const cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable', { enableUI: false });
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true,
      isUserVerified: true, automaticPresenceSimulation: true,
    },
  });
  const a = { name, context, page, cdp, authenticatorId };
  actors.push(a);
  return a;
}

async function credentials(a) {
  const { credentials: list } = await a.cdp.send('WebAuthn.getCredentials', { authenticatorId: a.authenticatorId });
  return list;
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(out, `${name}.png`), fullPage: true });
}

async function step(name, body) {
  current = name;
  const started = Date.now();
  try {
    await body();
  } catch (error) {
    for (const a of actors) {
      await a.page.screenshot({ path: path.join(out, `failed-${name}-${a.name}.png`), fullPage: true }).catch(() => {});
    }
    error.message = `step "${name}": ${error.message}`;
    throw error;
  }
  const entry = { step: name, ms: Date.now() - started };
  steps.push(entry);
  console.log(JSON.stringify(entry));
}

/** The page's main heading, once it says `text`. */
async function heading(page, text) {
  const h1 = page.locator('main h1');
  await h1.filter({ hasText: text }).first().waitFor();
  return h1;
}

async function noHorizontalScroll(page, what) {
  const [scroll, client] = await page.evaluate(() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]);
  expect(scroll <= client + 1, `${what} scrolls sideways at ${client} px (content is ${scroll} px wide)`);
}

/** Every control a person can reach has a name (label, aria-label or text). */
async function everyControlIsLabelled(page, what) {
  const unlabelled = await page.evaluate(() => {
    const bad = [];
    for (const el of document.querySelectorAll('input, select, textarea, button')) {
      if (el.type === 'hidden' || el.closest('[hidden]')) continue;
      const named = (el.labels && el.labels.length) || el.getAttribute('aria-label') || el.getAttribute('aria-labelledby')
        || (el.tagName === 'BUTTON' && el.textContent.trim());
      if (!named) bad.push(el.outerHTML.slice(0, 120));
    }
    return bad;
  });
  expect(unlabelled.length === 0, `${what} has controls without a label: ${unlabelled.join(' | ')}`);
}

let status = 0;
try {
  // ---- the coordinator ------------------------------------------------------
  const coordinator = await actor('coordinator');
  const c = coordinator.page;

  await step('accept the invitation with a new passkey', async () => {
    await c.goto(`/invitations/${seed.coordinator.token}`);
    await heading(c, 'Welcome');
    await c.getByText('You are invited as a coordinator').waitFor();
    expect(await c.getByTestId('invitee').textContent() === seed.coordinator.name, 'the invitation names the invitee');
    await everyControlIsLabelled(c, 'the invitation page');
    await shot(c, 'invitation');
    await c.getByLabel('Name of this device').fill('Test laptop');
    await c.getByRole('button', { name: 'Create a passkey and sign in' }).click();
    await heading(c, 'Campaigns');
    expect(new URL(c.url()).hash === '#/campaigns', `after the invitation the page is ${c.url()}`);
    expect((await credentials(coordinator)).length === 1, 'the authenticator holds one passkey');
    await c.getByText(`${seed.coordinator.name} · coordinator`).waitFor();
    await shot(c, 'campaigns');
  });

  await step('the used invitation link is refused', async () => {
    const other = await browser.newContext({ baseURL: base });
    const p = await other.newPage();
    // Opening a used link answers 410, which Chromium logs.
    expectedErrors.set(current, [/status of 410/]);
    p.on('console', (m) => {
      if (m.type() === 'error' && !/status of 410/.test(m.text())) consoleErrors.push({ actor: 'stranger', step: current, text: m.text() });
    });
    await p.goto(`/invitations/${seed.coordinator.token}`);
    await p.getByRole('alert').filter({ hasText: 'This link was already used' }).waitFor();
    await other.close();
  });

  await step('sign out', async () => {
    await c.getByRole('button', { name: 'Sign out' }).click();
    await heading(c, 'Sign in');
    expect(new URL(c.url()).pathname === '/sign-in', `after signing out the page is ${c.url()}`);
    const cookies = await coordinator.context.cookies();
    expect(!cookies.some((k) => k.name === 'mb_session' && k.value), 'the session cookie is gone');
  });

  await step('sign in with the passkey', async () => {
    await everyControlIsLabelled(c, 'the sign-in page');
    await c.getByLabel('Email address').fill(seed.coordinator.email);
    await c.getByRole('button', { name: 'Sign in with a passkey' }).click();
    await heading(c, 'Campaigns');
    const cookies = await coordinator.context.cookies();
    const session = cookies.find((k) => k.name === 'mb_session');
    expect(session && session.httpOnly && session.sameSite === 'Strict', 'the session cookie is HttpOnly and SameSite=Strict');
  });

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
if (status === 0) console.log(JSON.stringify({ ok: true, steps }));
process.exit(status);
