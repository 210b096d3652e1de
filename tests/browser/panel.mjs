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
import readline from 'node:readline';
import { parseArgs } from 'node:util';

import { everyControlIsLabelled, expect, noHorizontalScroll, stepper } from './checks.mjs';

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

// What only the server's side can see (a mailed link) is asked for on
// stdout, one JSON line, and answered on stdin.
const answers = readline.createInterface({ input: process.stdin });
const waiting = [];
answers.on('line', (line) => { const resolve = waiting.shift(); if (resolve) resolve(JSON.parse(line)); });
function ask(need) {
  console.log(JSON.stringify(need));
  return new Promise((resolve) => { waiting.push(resolve); });
}

const TIMEOUT = 15_000;
/** Console errors nobody expected: `{actor, step, text}`. */
const consoleErrors = [];
/** Console errors a step provokes on purpose, by step name: regexps. */
const expectedErrors = new Map();
/** What a window.prompt answers. */
let promptAnswer = '';


const browser = await chromium.launch({
  executablePath: chromiumPath,
  headless: true,
  args: [
    '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    // A camera that shows a test pattern, and no permission prompt for it.
    '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream',
  ],
});
const actors = [];
const { step, steps, current } = stepper(out, () => actors);

// Headless Chromium on Linux has no BarcodeDetector (Chrome has it on
// Android and macOS), so the camera scan runs against this stand-in: it
// answers like the real detector, and only once the camera's video is
// playing, with the code the test holds up to the camera
// (`window.__heldUp`). Everything around it is real: the camera button,
// getUserMedia on Chromium's fake camera, the video, the reading loop and
// stopping the camera once a code is read.
function barcodeDetectorStandIn() {
  window.BarcodeDetector = class {
    static async getSupportedFormats() { return ['code_128', 'qr_code']; }

    constructor(options) { this.formats = options.formats; }

    async detect(source) {
      const playing = source instanceof HTMLVideoElement && source.readyState >= 2 && source.videoWidth > 0
        && source.srcObject && source.srcObject.getVideoTracks().some((t) => t.readyState === 'live');
      if (!playing || !window.__heldUp) return [];
      window.__readFromVideo = `${source.videoWidth}x${source.videoHeight}`;
      return [{ rawValue: window.__heldUp, format: 'qr_code', boundingBox: new DOMRectReadOnly(0, 0, 10, 10), cornerPoints: [] }];
    }
  };
}

/** One person: a browser context of their own, with a passkey authenticator. */
async function actor(name, viewport = { width: 1280, height: 900 }, { camera = false } = {}) {
  const context = await browser.newContext({ viewport, baseURL: base, permissions: camera ? ['camera'] : [] });
  if (camera) await context.addInitScript(barcodeDetectorStandIn);
  context.setDefaultTimeout(TIMEOUT);
  const page = await context.newPage();
  page.on('console', (message) => {
    if (message.type() !== 'error') return;
    const allowed = expectedErrors.get(current()) || [];
    if (!allowed.some((re) => re.test(message.text()))) {
      consoleErrors.push({ actor: name, step: current(), text: message.text(), location: message.location() });
    }
  });
  page.on('pageerror', (error) => consoleErrors.push({ actor: name, step: current(), text: `uncaught: ${error.message}` }));
  const cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable', { enableUI: false });
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true,
      isUserVerified: true, automaticPresenceSimulation: true,
    },
  });
  // Confirmations are accepted; a prompt gets the text the step set.
  page.on('dialog', (dialog) => dialog.accept(dialog.type() === 'prompt' ? (promptAnswer || 'no') : undefined));
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


/** The page's main heading, once it says `text`. */
async function heading(page, text) {
  const h1 = page.locator('main h1');
  await h1.filter({ hasText: text }).first().waitFor();
  return h1;
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
    expectedErrors.set(current(), [/status of 410/]);
    p.on('console', (m) => {
      if (m.type() === 'error' && !/status of 410/.test(m.text())) consoleErrors.push({ actor: 'stranger', step: current(), text: m.text() });
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

  await step('keyboard: a new page focuses its heading, Tab and Enter move on', async () => {
    const focusedText = () => c.evaluate(() => document.activeElement && document.activeElement.textContent.trim());
    expect(await focusedText() === 'Campaigns', `the focus is on "${await focusedText()}", not the page's heading`);
    await c.keyboard.press('Tab');
    expect(await c.evaluate(() => document.activeElement.tagName) === 'SELECT', 'Tab reaches the status filter');
    await c.keyboard.press('Tab');
    expect(await focusedText() === 'New campaign', `the second Tab reaches "${await focusedText()}"`);
    await c.keyboard.press('Enter');
    await heading(c, 'New campaign');
    expect(await focusedText() === 'New campaign', 'the new page\'s heading has the focus');
  });

  // Dates relative to today: the campaign runs for the next four weeks.
  const day = (offset) => new Date(Date.now() + offset * 86_400_000).toISOString().slice(0, 10);
  let campaignUrl;
  let secondTask;

  await step('create a campaign', async () => {
    await heading(c, 'New campaign');
    await everyControlIsLabelled(c, 'the campaign form');
    await c.getByLabel('Name', { exact: true }).fill('Double 11, 2026');
    await c.getByLabel('Starts').fill(day(0));
    await c.getByLabel('Ends').fill(day(28));
    await c.getByLabel('Platforms').fill('jd, taobao');
    await c.getByLabel('Budget').fill('5000.00');
    await c.getByLabel(`${seed.station.name} (Hubei)`).check();
    await c.getByLabel('Testing lab').selectOption(seed.lab.id);
    await c.getByLabel('Test plan (what the lab tests)').fill('GB 2099.1 plugs and sockets; QB/T 1333 bags');
    await shot(c, 'campaign-new');
    await c.getByRole('button', { name: 'Create the campaign' }).click();
    await heading(c, 'Double 11, 2026');
    await c.getByRole('link', { name: 'Quotas' }).and(c.locator('[aria-current="page"]')).waitFor();
    campaignUrl = c.url().replace(/\/quotas$/, '');
  });

  await step('set quotas per category and platform', async () => {
    await c.getByRole('button', { name: 'Add a quota' }).click();
    await c.getByLabel('Category of quota 1').selectOption('power-strips');
    await c.getByLabel('Platform of quota 1').selectOption('jd');
    await c.getByLabel('Lots wanted, quota 1').fill('2');
    await c.getByLabel('Price cap, quota 1').fill('150');
    await c.getByRole('button', { name: 'Add a quota' }).click();
    await c.getByLabel('Category of quota 2').selectOption('travel-bags');
    await c.getByLabel('Lots wanted, quota 2').fill('2');
    await c.getByLabel('Price cap, quota 2').fill('300');
    await everyControlIsLabelled(c, 'the quota table');
    await c.getByRole('button', { name: 'Save quotas' }).click();
    await c.getByRole('status').filter({ hasText: 'Saved 2 quotas.' }).waitFor();
    await shot(c, 'quotas');
  });

  const badCsv = path.join(out, 'candidates-with-mistakes.csv');
  const goodCsv = path.join(out, 'candidates.csv');
  fs.writeFileSync(badCsv, seed.bad_csv);
  fs.writeFileSync(goodCsv, seed.good_csv);

  await step('import candidates: every wrong row is reported', async () => {
    // The refused import answers 422, which Chromium logs.
    expectedErrors.set(current(), [/status of 422/]);
    await c.getByRole('link', { name: 'Candidates' }).click();
    await c.getByRole('heading', { name: 'Import candidates' }).waitFor();
    await everyControlIsLabelled(c, 'the candidates page');
    await c.getByLabel('CSV file').setInputFiles(badCsv);
    await c.getByRole('button', { name: 'Import' }).click();
    const alert = c.getByRole('alert');
    await alert.waitFor();
    const text = await alert.textContent();
    for (const row of ['Row 3', 'Row 4', 'Row 5']) expect(text.includes(row), `the report names ${row}: ${text}`);
    expect(!text.includes('Row 2'), `the good row 2 is not blamed: ${text}`);
    expect(text.includes('amazon'), `the report says what is wrong with the platform: ${text}`);
    await c.getByText('No candidates match.').waitFor();
    await shot(c, 'import-errors');
  });

  await step('import candidates', async () => {
    await c.getByLabel('CSV file').setInputFiles(goodCsv);
    await c.getByRole('button', { name: 'Import' }).click();
    await c.getByRole('status').filter({ hasText: 'Imported 6 candidates.' }).waitFor();
    await c.getByRole('table', { name: /Candidates, riskiest first \(6\)/ }).waitFor();
    expect(await c.locator('table tbody tr').count() === 6, 'six candidates are listed');
    await c.getByRole('cell', { name: 'Bright Sparks Store' }).waitFor();
    await shot(c, 'candidates');
  });

  await step('activate the campaign', async () => {
    await c.getByRole('link', { name: 'Overview' }).click();
    await c.getByRole('button', { name: 'Activate the campaign' }).click();
    await c.locator('h1 .badge').filter({ hasText: 'active' }).waitFor();
  });

  await step('preview and commit the assignment', async () => {
    await c.getByRole('link', { name: 'Assignment' }).click();
    await c.getByRole('button', { name: 'Preview the assignment' }).click();
    const commit = c.getByRole('button', { name: 'Commit 4 offers' });
    await commit.waitFor();
    expect(await c.getByRole('table', { name: 'Planned offers' }).locator('tbody tr').count() === 4, 'four offers are planned');
    await everyControlIsLabelled(c, 'the assignment preview');
    await shot(c, 'assignment');
    await commit.click();
    await c.getByRole('status').filter({ hasText: '4 offers sent.' }).waitFor();
  });

  await step('the tasks are offered', async () => {
    await c.getByRole('link', { name: 'See the tasks' }).click();
    await c.getByRole('table', { name: /Tasks/ }).waitFor();
    const rows = c.getByRole('table', { name: /Tasks/ }).locator('tbody tr');
    expect(await rows.count() === 4, `four tasks are listed, not ${await rows.count()}`);
    expect(await rows.filter({ hasText: 'offered' }).count() === 4, 'each is offered');
    await c.getByLabel('Status').selectOption('accepted');
    await c.getByText('No tasks match.').waitFor();
    await c.getByLabel('Status').selectOption('offered');
    await c.getByRole('table', { name: /Tasks/ }).waitFor();
    await shot(c, 'tasks');
  });

  await step('the progress charts', async () => {
    await c.getByRole('link', { name: 'Progress' }).click();
    const quota = c.locator('figure[data-chart="Quota fill"] svg');
    await quota.waitFor();
    const quotaLabel = await quota.getAttribute('aria-label');
    expect(/2 of 2/.test(quotaLabel), `the quota chart shows the filled slots: ${quotaLabel}`);
    const status = await c.locator('figure[data-chart="Tasks by status"] svg').getAttribute('aria-label');
    expect(status.includes('offered 4'), `the status chart counts the offers: ${status}`);
    expect(await c.locator('figure[data-chart="Quota fill"] rect[data-value]').count() >= 4, 'the quota chart has bars');
    await c.getByText('No samples on their way yet.').waitFor();
    await shot(c, 'progress');
  });

  // ---- the relay operator, on a phone-sized screen --------------------------------
  const phone = { width: 360, height: 740 };
  const operator = await actor('operator', phone);
  const o = operator.page;
  const photo = path.join(out, 'parcel.png');
  // A 1x1 PNG: the photo of the parcel the operator attaches.
  fs.writeFileSync(photo, Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC', 'base64'));
  let sample;

  await step('the relay operator accepts the invitation and lands on the station page', async () => {
    await o.goto(`/invitations/${seed.operator.token}`);
    await o.getByText('You are invited as a relay-station operator').waitFor();
    await o.getByRole('button', { name: 'Create a passkey and sign in' }).click();
    await heading(o, seed.station.name);
    expect(new URL(o.url()).pathname === '/station', `the operator is on ${o.url()}`);
    await o.getByText('Nothing waits for a match.').waitFor();
    await everyControlIsLabelled(o, 'the station page');
    await noHorizontalScroll(o, 'the station page');
    await shot(o, 'station');
  });

  await step('scan a parcel by its typed tracking number', async () => {
    // BarcodeDetector is not in Chromium on Linux: no camera button, the code is typed.
    expect(await o.getByRole('button', { name: 'Scan with the camera' }).count() === 0, 'no camera button without BarcodeDetector');
    await o.getByLabel('Tracking number or recipient code').fill(seed.tracking_typed);
    await o.getByLabel('Intact').check();
    await o.getByLabel('Photos of the parcel (optional)').setInputFiles(photo);
    await o.getByRole('button', { name: 'Record the scan' }).click();
    // The campaign asks for a witnessed opening: no label before the sealing.
    await o.getByRole('heading', { name: 'Open and seal it in front of a witness' }).waitFor();
    expect(await o.getByRole('button', { name: 'Print the label' }).count() === 0, 'no label before the witnessed sealing');
    await everyControlIsLabelled(o, 'the witness form');
    await noHorizontalScroll(o, 'the witness form');
    await shot(o, 'station-witness');
    await o.getByLabel('Witness’s name (as on the paper record)').fill('Li Na, duty manager');
    await o.getByRole('button', { name: 'Record the witnessed sealing' }).click();
    await o.getByRole('heading', { name: 'Relabel and forward' }).waitFor();
    sample = (await o.getByTestId('sample-code').first().textContent()).trim();
    expect(/^S-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]$/.test(sample), `a sample code is shown: ${sample}`);
    await o.getByText(seed.lab.name).first().waitFor();
    const page = await o.content();
    for (const secret of ['Spark City', 'JD-2026', 'winter sweep', 'jd.example.com']) {
      expect(!page.includes(secret), `the station page shows ${secret}`);
    }
    await noHorizontalScroll(o, 'the scanned parcel');
    await shot(o, 'station-scanned');
  });

  await step('the label is shown and opens', async () => {
    const img = o.getByRole('img', { name: new RegExp(`Label for sample ${sample}`) });
    await img.waitFor();
    await o.waitForFunction((s) => {
      const el = [...document.images].find((i) => i.alt.includes(s));
      return el && el.complete && el.naturalWidth > 0;
    }, sample);
    const [popup] = await Promise.all([
      o.waitForEvent('popup'),
      o.getByRole('link', { name: 'Open the label (PNG)' }).click(),
    ]);
    await popup.waitForLoadState();
    const type = await popup.evaluate(() => document.contentType);
    expect(type === 'image/png', `the label opens as a PNG, not ${type}`);
    await popup.screenshot({ path: path.join(out, 'label.png') });
    await popup.close();
    // Printing: the button opens the browser's print dialog, and the print
    // style sheet leaves only the label on the page.
    await o.evaluate(() => { window.__printed = 0; window.print = () => { window.__printed += 1; }; });
    await o.getByRole('button', { name: 'Print the label' }).click();
    expect(await o.evaluate(() => window.__printed) === 1, 'Print the label calls the print dialog');
    await o.emulateMedia({ media: 'print' });
    const printed = await o.evaluate(() => [...document.querySelectorAll('body *')]
      .filter((el) => el.getClientRects().length && getComputedStyle(el).visibility !== 'hidden' && !el.children.length)
      .map((el) => el.tagName));
    expect(printed.length > 0 && printed.every((t) => t === 'IMG'), `on paper only the label shows: ${printed.join(', ')}`);
    await o.emulateMedia({ media: 'screen' });
    const pdf = await operator.context.request.get(await o.getByRole('link', { name: 'Open the label (PDF)' }).getAttribute('href'));
    expect(pdf.status() === 200 && pdf.headers()['content-type'] === 'application/pdf', `the PDF label answers ${pdf.status()} ${pdf.headers()['content-type']}`);
    expect((await pdf.body()).subarray(0, 5).toString() === '%PDF-', 'the PDF label is a PDF');
  });

  await step('forward the parcel to the lab', async () => {
    await o.getByLabel('Carrier').fill('EMS');
    await o.getByLabel('Tracking number', { exact: true }).fill('EMS0099887766');
    await o.getByRole('button', { name: 'Record the hand-over' }).click();
    await o.getByRole('heading', { name: 'Already forwarded' }).waitFor();
    await o.getByText('No parcel waits to go on.').waitFor();
    await shot(o, 'station-forwarded');
  });

  // ---- the lab inspector ----------------------------------------------------------------
  const inspector = await actor('inspector', { width: 1024, height: 800 }, { camera: true });
  const l = inspector.page;
  const report = path.join(out, 'report.pdf');
  fs.writeFileSync(report, '%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n');

  await step('the lab inspector accepts the invitation and sees the sample on its way', async () => {
    await l.goto(`/invitations/${seed.inspector.token}`);
    await l.getByRole('button', { name: 'Create a passkey and sign in' }).click();
    await heading(l, seed.lab.name);
    expect(new URL(l.url()).pathname === '/lab', `the inspector is on ${l.url()}`);
    const onTheWay = l.getByRole('table', { name: 'Samples forwarded to the lab' });
    await onTheWay.getByRole('button', { name: sample }).waitFor();
    await everyControlIsLabelled(l, 'the lab page');
    await shot(l, 'lab');
  });

  await step('scan the label with the camera', async () => {
    await l.evaluate((code) => { window.__heldUp = code; }, sample);
    await l.getByRole('button', { name: 'Scan the label with the camera' }).click();
    await l.getByRole('heading', { name: new RegExp(`Sample ${sample}`) }).waitFor();
    const seen = await l.evaluate(() => window.__readFromVideo);
    expect(/^\d+x\d+$/.test(seen || ''), `the code was read from the playing camera video, not ${seen}`);
    const live = await l.evaluate(() => [...document.querySelectorAll('video')].some((v) => v.srcObject && v.srcObject.getTracks().some((t) => t.readyState === 'live')));
    expect(!live, 'the camera is stopped once the code is read');
    await l.getByRole('button', { name: 'Scan the label with the camera' }).waitFor();
  });

  await step('receive the sample by its typed code and record the result', async () => {
    await l.getByLabel('Sample code').fill(sample.toLowerCase());
    await l.getByRole('button', { name: 'Open', exact: true }).click();
    await l.getByRole('heading', { name: new RegExp(`Sample ${sample}`) }).waitFor();
    await l.getByText('GB 2099.1 plugs and sockets').waitFor();
    const page = await l.content();
    for (const secret of ['Spark City', 'jd.example.com', 'taobao', seed.station.name]) {
      expect(!page.includes(secret), `the lab page shows ${secret}`);
    }
    await l.getByRole('button', { name: 'Record its arrival' }).click();
    await l.getByRole('button', { name: 'Record the result' }).waitFor();
    // The box came dented: reported to the coordinators, the test goes on.
    await l.getByText('Report a problem with this sample').click();
    await l.getByLabel('What is wrong').selectOption('damaged');
    await l.getByLabel('Note', { exact: true }).fill('outer box dented, the strip itself intact');
    await everyControlIsLabelled(l, 'the problem form');
    await l.getByRole('button', { name: 'Report', exact: true }).click();
    await l.getByText('The coordinators are told.').waitFor();
    await l.getByLabel('Unqualified').check();
    await l.getByLabel('Failed items (one per line)').fill('temperature rise\ninsulation resistance');
    await l.getByLabel('Standard tested against').fill('GB 2099.1-2021');
    await everyControlIsLabelled(l, 'the result form');
    await l.getByRole('button', { name: 'Record the result' }).click();
    await l.getByRole('button', { name: 'Correct the result' }).waitFor();
    await l.getByText('temperature rise; insulation resistance').first().waitFor();
  });

  await step('upload the report', async () => {
    await l.getByLabel('Report (PDF)').setInputFiles(report);
    await l.getByRole('button', { name: 'Upload the report' }).click();
    await l.getByRole('link', { name: 'Open the stored report' }).waitFor();
    const tested = l.getByRole('table', { name: 'Samples with a result' });
    await tested.getByRole('cell', { name: 'attached' }).waitFor();
    await shot(l, 'lab-result');
  });

  // ---- back to the coordinator: the sample's result on the campaign's pages -------------
  await step('the coordinator sees the result in the progress charts and publishes it', async () => {
    await c.goto(`/#/campaigns/${seed.seeded_campaign.id}/progress`);
    await heading(c, seed.seeded_campaign.name);
    const stage = await c.locator('figure[data-chart="Samples by custody stage"] svg').getAttribute('aria-label');
    expect(stage.includes('tested 1'), `the stage chart counts the tested sample: ${stage}`);
    const rate = await c.locator('figure[data-chart="Failure rate by category"] svg').getAttribute('aria-label');
    expect(rate.includes('100 % (1 of 1)'), `the failure chart shows the failed sample: ${rate}`);
    const over = await c.locator('figure[data-chart="Tasks by status over time"] svg').getAttribute('aria-label');
    expect(over.includes('tested 1'), `the timeline ends with the tested task: ${over}`);
    await shot(c, 'progress-tested');
    await c.getByRole('link', { name: 'Parcels & results' }).click();
    const row = c.getByRole('row').filter({ hasText: sample });
    await row.getByText('unqualified').waitFor();
    await row.getByRole('button', { name: `Publish the result of ${sample}` }).click();
    await row.getByText('published').waitFor();
    await shot(c, 'parcels');
  });

  await step('the task page shows the whole route', async () => {
    await c.getByRole('row').filter({ hasText: sample }).getByRole('link').click();
    const thumb = c.getByRole('img', { name: 'listing photo (verified)' });
    await thumb.waitFor();
    await c.waitForFunction(() => [...document.images].some((i) => i.alt.startsWith('listing photo') && i.complete && i.naturalWidth > 0));
    await c.getByRole('heading', { name: 'Parcel and result' }).waitFor();
    await c.getByText(sample).first().waitFor();
    await c.getByRole('link', { name: 'Open the lab report (PDF)' }).waitFor();
    await c.getByRole('heading', { name: 'Evidence' }).waitFor();
    await c.waitForFunction(() => [...document.images].some((i) => i.alt === 'Station photo 1 of the parcel' && i.complete && i.naturalWidth > 0));
    await c.getByRole('button', { name: 'Show the custody chain' }).click();
    const chain = c.getByRole('table', { name: /Custody entries/ });
    await chain.waitFor();
    for (const event of ['task accepted', 'purchase recorded', 'evidence verified', 'received at station', 'station photo', 'forwarded', 'received at lab', 'result recorded', 'result published']) {
      expect(await chain.getByRole('cell', { name: event, exact: true }).count() >= 1, `the custody chain lists "${event}"`);
    }
    await shot(c, 'task');
  });

  await step('approve one reimbursement and mark it paid, reject the other', async () => {
    await c.goto(`/#/campaigns/${seed.seeded_campaign.id}/money`);
    const rows = () => c.getByRole('table', { name: 'Reimbursement requests' }).locator('tbody tr');
    // The price (42.00) and a courier fee (8.00), both requested; each row
    // also shows what the task's purchase cost (42.00).
    const price = () => rows().filter({ hasText: /¥42\.00.*¥42\.00/ });
    const fee = () => rows().filter({ hasText: /¥8\.00/ });
    await price().getByText('requested').waitFor();
    await fee().getByText('requested').waitFor();
    await price().getByRole('button', { name: /^Approve/ }).click();
    await price().getByText('approved').waitFor();
    await price().getByRole('button', { name: /^Mark paid/ }).click();
    await price().getByText('paid', { exact: true }).waitFor();
    promptAnswer = 'The courier fee is part of the listed price.';
    await fee().getByRole('button', { name: /^Reject/ }).click();
    await fee().getByText('rejected').waitFor();
    promptAnswer = '';
    expect(await rows().count() === 2, 'two requests are listed');
    const csv = await coordinator.context.request.get(`/api/campaigns/${seed.seeded_campaign.id}/finance.csv`);
    expect(csv.ok() && csv.headers()['content-type'].startsWith('text/csv'), `the finance export answers ${csv.status()}`);
    const text = await csv.text();
    expect(text.startsWith('reimbursement_id,') && text.includes(',paid,'), `the finance export lists the paid request: ${text}`);
    await shot(c, 'money');
  });

  await step('the other coordinator pages', async () => {
    await c.getByRole('link', { name: 'Settings' }).click();
    await c.getByLabel('Test plan (what the lab tests)').fill('GB 2099.1-2021, all clauses');
    await everyControlIsLabelled(c, 'the campaign settings');
    await c.getByRole('button', { name: 'Save changes' }).click();
    await c.getByText('GB 2099.1-2021, all clauses').waitFor();
    await c.getByRole('link', { name: 'Reviews' }).click();
    await heading(c, 'Reviews');
    await c.getByText('Nothing to review.').waitFor();
    await c.getByRole('link', { name: 'Volunteers' }).click();
    await heading(c, 'Volunteers');
    const volunteers = c.getByRole('table', { name: /Volunteers with a buying profile/ });
    expect(await volunteers.locator('tbody tr').count() === 5, 'five volunteers have a profile');
    expect(!(await c.content()).includes('@example.org'), 'no volunteer address is shown to a coordinator');
    await shot(c, 'volunteers');
    await c.getByRole('link', { name: 'Tasks' }).first().click();
    await heading(c, 'Tasks');
    await c.getByLabel('Campaign').selectOption(seed.seeded_campaign.id);
    await c.getByRole('table', { name: /Tasks/ }).getByRole('link', { name: /Spark City/ }).waitFor();
    expect(await c.getByRole('table', { name: /Tasks/ }).locator('tbody tr').count() === 1, 'one task in the seeded campaign');
  });

  await step('resolve the exception the lab reported', async () => {
    await c.goto(`/#/campaigns/${seed.seeded_campaign.id}/parcels`);
    const exceptions = c.getByRole('table', { name: 'Exceptions' });
    const row = exceptions.getByRole('row').filter({ hasText: 'outer box dented' });
    await row.getByText('by lab').waitFor();
    await row.getByLabel('Resolution of the damaged exception').fill('Strip tested as received; box damage noted in the report.');
    await row.getByRole('button', { name: 'Resolve' }).click();
    await row.getByText('Strip tested as received; box damage noted in the report.').waitFor();
    expect(await row.getByRole('button', { name: 'Resolve' }).count() === 0, 'the resolved exception has no form');
  });

  await step('reassign one offered task; cancel another its volunteer bought offline', async () => {
    await c.goto(`${campaignUrl}/tasks`);
    const tasks = c.getByRole('table', { name: /Tasks/ });
    await tasks.locator('tbody tr').first().waitFor();
    const [first, second] = await tasks.locator('tbody tr a[href^="#/tasks/"]').evaluateAll((links) => links.slice(0, 2).map((a) => a.getAttribute('href')));
    const volunteerOnPage = () => c.evaluate(() => {
      const dt = [...document.querySelectorAll('dt')].find((d) => d.textContent === 'Volunteer');
      return dt ? dt.nextElementSibling.textContent : '';
    });

    await c.goto(`/${first}`);
    await c.getByRole('heading', { name: 'Actions' }).waitFor();
    const before = await volunteerOnPage();
    const picker = c.getByLabel('Give it to another volunteer');
    await picker.locator('option').nth(1).waitFor({ state: 'attached' });
    const other = await picker.evaluate((select, now) => [...select.options]
      .find((o) => o.value && !o.textContent.startsWith(`${now} `)).value, before);
    await picker.selectOption(other);
    await everyControlIsLabelled(c, 'the task actions');
    await c.getByRole('button', { name: 'Reassign' }).click();
    await c.waitForFunction((was) => {
      const dt = [...document.querySelectorAll('dt')].find((d) => d.textContent === 'Volunteer');
      return dt && dt.nextElementSibling.textContent !== was;
    }, before);
    await c.getByText(/offered — .* \(generation 2\)/).waitFor();
    await c.locator('h1 .badge').filter({ hasText: 'offered' }).waitFor();
    await shot(c, 'task-reassigned');

    // Its volunteer accepts and buys it on a phone that is offline...
    await ask({ need: 'offline_purchase', task: second.replace('#/tasks/', '') });
    await c.goto(`/${second}`);
    await c.getByRole('heading', { name: 'Actions' }).waitFor();
    expect(await c.getByRole('button', { name: 'Report the exception' }).count() === 0, 'no exception form for a task without a parcel');
    // ...while the coordinator, who cannot know, cancels it.
    await c.getByRole('button', { name: 'Cancel the task' }).click();
    await c.locator('h1 .badge').filter({ hasText: 'cancelled' }).waitFor();
    await c.getByText(/^cancelled — /).waitFor();
    secondTask = second.replace('#/tasks/', '');
  });

  await step('the phone syncs: the purchase stands and is flagged for review', async () => {
    await ask({ need: 'phone_syncs' });
    // The page is still the cancelled task's: read it again.
    await c.reload();
    await c.locator('h1 .badge').filter({ hasText: 'purchased' }).waitFor();
    await c.getByRole('cell', { name: 'TB-20261124-7781' }).waitFor();
    await c.getByRole('link', { name: 'open — resolve on the review list' }).click();
    await heading(c, 'Reviews');
    const row = c.getByRole('table', { name: 'Open review items' }).getByRole('row').filter({ hasText: secondTask.slice(0, 8) });
    await row.getByText('The task was cancelled after the volunteer had bought it; the purchase stands').waitFor();
    await everyControlIsLabelled(c, 'the review list');
    await shot(c, 'reviews');
    await row.getByLabel(`Decision on the flag of task ${secondTask.slice(0, 8)}`).fill('Keep the purchase: the bag goes on to the lab.');
    await row.getByRole('button', { name: 'Resolve' }).click();
    await row.getByText('Keep the purchase: the bag goes on to the lab.').waitFor();
  });

  await step('a lost laptop: recover the account with a new passkey', async () => {
    const laptop = await actor('coordinator-new-laptop');
    const n = laptop.page;
    await n.goto('/recover');
    await heading(n, 'Recover your account');
    await everyControlIsLabelled(n, 'the recovery page');
    await n.getByLabel('Email address').fill(seed.coordinator.email);
    await n.getByRole('button', { name: 'Mail me a recovery link' }).click();
    await n.getByRole('status').filter({ hasText: 'a recovery link is on its way' }).waitFor();
    const { token } = await ask({ need: 'recovery_link', email: seed.coordinator.email });
    await n.goto(`/recover/${token}`);
    await heading(n, 'Recover your account');
    await n.getByLabel('Name of this device').fill('New laptop');
    await n.getByRole('button', { name: 'Create a new passkey and sign in' }).click();
    await heading(n, 'Campaigns');
    await n.getByRole('link', { name: 'My account' }).click();
    const keys = n.getByRole('table', { name: 'Your passkeys' });
    await keys.getByRole('cell', { name: 'New laptop', exact: true }).waitFor();
    expect(await keys.locator('tbody tr').count() === 2, 'the account has two passkeys');
    await shot(n, 'account');
    await n.getByRole('button', { name: 'Remove passkey Test laptop' }).click();
    await keys.getByRole('cell', { name: 'Test laptop', exact: true }).waitFor({ state: 'detached' });
    expect(await keys.locator('tbody tr').count() === 1, 'one passkey is left');
  });

  await step('the lost laptop\'s session has ended', async () => {
    expectedErrors.set(current(), [/status of 401/]);
    await c.reload();
    await heading(c, 'Sign in');
  });

  // ---- the administrator ----------------------------------------------------------------
  const administrator = await actor('administrator');
  const a = administrator.page;

  await step('the administrator accepts the invitation and sees the users', async () => {
    await a.goto(`/invitations/${seed.administrator.token}`);
    await a.getByRole('button', { name: 'Create a passkey and sign in' }).click();
    await heading(a, 'Users');
    await a.getByRole('link', { name: seed.operator.name }).waitFor();
    await everyControlIsLabelled(a, 'the users page');
    await shot(a, 'users');
  });

  await step('invite a coordinator', async () => {
    await a.getByLabel('Role').selectOption('coordinator');
    await a.getByLabel('Email address').fill('new.coordinator@example.org');
    await a.getByLabel('Name (staff)').fill('Sun Hui');
    await a.getByRole('button', { name: 'Send the invitation' }).click();
    await a.getByRole('status').filter({ hasText: 'Invitation mailed to new.coordinator@example.org as coordinator' }).waitFor();
    await a.goto('/#/users?role=coordinator');
    await a.getByRole('link', { name: 'Sun Hui' }).waitFor();
  });

  await step('a user\'s passkeys and devices; disable and re-enable', async () => {
    await a.goto('/#/users?role=relay_operator');
    await a.getByRole('link', { name: seed.operator.name }).click();
    await heading(a, seed.operator.name);
    expect(await a.getByRole('table', { name: 'Passkeys' }).locator('tbody tr').count() === 1, 'the operator has one passkey');
    await a.getByRole('table', { name: 'Devices' }).getByRole('cell', { name: 'browser' }).first().waitFor();
    await a.getByRole('button', { name: 'Disable' }).click();
    await a.locator('h1 .badge').filter({ hasText: 'disabled' }).waitFor();
    await a.getByRole('button', { name: 'Re-enable' }).click();
    await a.locator('h1 .badge').filter({ hasText: 'active' }).waitFor();
    await shot(a, 'user');
  });

  await step('the disabled operator was signed out', async () => {
    // Disabling ended the operator's session: their next request is 401.
    expectedErrors.set(current(), [/status of 401/]);
    await o.reload();
    await heading(o, 'Sign in');
  });

  await step('add a relay station and take it out of use', async () => {
    await a.getByRole('link', { name: 'Stations' }).click();
    await heading(a, 'Relay stations');
    await a.getByLabel('Name').fill('Hangzhou relay 1');
    await a.getByLabel(/^Region/).fill('Zhejiang');
    await a.getByLabel('Postal address (one line each)').fill('12 Wensan Road\nHangzhou 310012');
    await a.getByLabel(seed.operator.name).check();
    await everyControlIsLabelled(a, 'the station form');
    await a.getByRole('button', { name: 'Add the relay station' }).click();
    const row = a.getByRole('row').filter({ hasText: 'Hangzhou relay 1' });
    await row.waitFor();
    await row.getByText(seed.operator.name).waitFor();
    await row.getByRole('link', { name: 'Change Hangzhou relay 1' }).click();
    await a.getByLabel('In use (new parcels are routed here)').uncheck();
    await a.getByRole('button', { name: 'Save' }).click();
    await a.getByRole('row').filter({ hasText: 'Hangzhou relay 1' }).getByText('no', { exact: true }).waitFor();
    await shot(a, 'stations');
  });

  await step('the labs', async () => {
    await a.getByRole('link', { name: 'Labs' }).click();
    await heading(a, 'Labs');
    const row = a.getByRole('row').filter({ hasText: seed.lab.name });
    await row.getByText(seed.inspector.name).waitFor();
    await everyControlIsLabelled(a, 'the lab form');
  });

  await step('read a volunteer\'s personal data, on purpose', async () => {
    await a.getByRole('link', { name: 'Volunteers' }).click();
    await heading(a, 'Volunteers');
    await a.getByRole('button', { name: /^Read the personal data of/ }).first().click();
    await a.getByTestId('personal-data').waitFor();
    await shot(a, 'personal-data');
  });

  await step('no console errors', async () => {
    expect(consoleErrors.length === 0, `console errors: ${JSON.stringify(consoleErrors, null, 1)}`);
  });
} catch (error) {
  console.error(error.stack || String(error));
  if (consoleErrors.length) console.error(`console errors so far: ${JSON.stringify(consoleErrors, null, 1)}`);
  status = 1;
} finally {
  answers.close();
  await browser.close().catch(() => {});
}
if (status === 0) console.log(JSON.stringify({ ok: true, steps }));
process.exit(status);
