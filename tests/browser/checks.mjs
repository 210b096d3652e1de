// What both browser scripts check on a page, through `page.evaluate` (which
// Playwright's and Puppeteer's pages both have): panel.mjs (Chromium) and
// firefox.mjs (Firefox).

export function expect(condition, message) {
  if (!condition) throw new Error(message);
}

/** The page does not scroll sideways (the station page at 360 px). */
export async function noHorizontalScroll(page, what) {
  const [scroll, client] = await page.evaluate(() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]);
  expect(scroll <= client + 1, `${what} scrolls sideways at ${client} px (content is ${scroll} px wide)`);
}

/** Every control a person can reach has a name (label, aria-label or text). */
export async function everyControlIsLabelled(page, what) {
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

/**
 * Runs named steps: each prints `{"step", "ms"}` on stdout when it passes;
 * a failing one screenshots every actor's page (`actors()`: `{name, page}`)
 * into `out` and fails with the step's name. `steps` lists the passed ones;
 * `current()` names the running one (for the console listeners).
 */
export function stepper(out, actors) {
  const steps = [];
  let running = 'start';
  async function step(name, body) {
    running = name;
    const started = Date.now();
    try {
      await body();
    } catch (error) {
      for (const a of actors()) {
        const file = `${out}/failed-${name.replace(/\W+/g, '-')}-${a.name}.png`;
        await a.page.screenshot({ path: file, fullPage: true }).catch(() => {});
      }
      error.message = `step "${name}": ${error.message}`;
      throw error;
    }
    const entry = { step: name, ms: Date.now() - started };
    steps.push(entry);
    console.log(JSON.stringify(entry));
  }
  return { step, steps, current: () => running };
}
