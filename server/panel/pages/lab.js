// The lab's page: samples on their way, received and tested, by blind
// sample code; recording a sample's arrival, its result (qualified, or
// unqualified with the failed items and the standard) and the report
// (PDF). The lab sees the sample code, the category and what to test,
// never the buyer, the shop or the platform.

import { get, post, put } from '../api.js';
import { h, mount, field, choices, table, title, badge, busy, toast, when, problemForm } from '../dom.js';
import { cameraButton } from '../scanner.js';

/** The page for a lab inspector (`me.workplaces` are their labs). */
export async function render(el, me) {
  const labs = me.workplaces || [];
  if (!labs.length) {
    mount(el, title('Lab'), h('div', { class: 'alert info' }, 'You are not an inspector of any lab yet. An administrator adds you to one.'));
    return;
  }
  const saved = localStorage.getItem('mb-lab');
  let lab = labs.find((l) => l.id === saved) || labs[0];
  const body = h('div');
  const picker = labs.length > 1
    ? field('Lab', h('select', {
      onchange: (e) => {
        lab = labs.find((l) => l.id === e.target.value);
        localStorage.setItem('mb-lab', lab.id);
        labPage(body, lab);
      },
    }, labs.map((l) => h('option', { value: l.id, selected: l.id === lab.id }, l.name))))
    : null;
  mount(el, title(labs.length > 1 ? 'Lab' : lab.name), picker, body);
  await labPage(body, lab);
}

async function labPage(el, lab) {
  const base = `/api/labs/${encodeURIComponent(lab.id)}`;
  const panel = h('div', { 'aria-live': 'polite' });
  const lists = h('div');
  const out = h('div', { 'aria-live': 'polite' });
  const code = h('input', { type: 'text', name: 'sample', required: true, autocomplete: 'off', autocapitalize: 'characters', spellcheck: 'false', enterkeyhint: 'go' });
  const find = h('button', { type: 'submit', class: 'primary' }, 'Open');
  const camera = await cameraButton((text) => { code.value = text; find.click(); }, 'Scan the label with the camera');

  async function open(sample) {
    const s = await get(`${base}/samples/${encodeURIComponent(sample)}`);
    showSample(panel, base, s, refresh);
    panel.querySelector('h2')?.focus();
  }

  async function refresh() {
    const samples = await get(`${base}/samples`);
    const link = (s) => h('button', { type: 'button', class: 'link code', onclick: () => busy(find, out, () => open(s.sample_code)) }, s.sample_code);
    const cols = (extra) => [['Sample', link], ['Category', (s) => s.category], ...extra];
    mount(lists,
      h('h2', {}, 'Received, to test'),
      table('Samples received and not yet tested', cols([['Received', (s) => when(s.received_at)]]),
        samples.filter((s) => s.stage === 'at_lab'), { empty: 'No sample waits for testing.' }),
      h('h2', {}, 'On the way'),
      table('Samples forwarded to the lab', cols([]), samples.filter((s) => s.stage === 'forwarded'), { empty: 'Nothing is on the way.' }),
      h('h2', {}, 'Tested'),
      table('Samples with a result', cols([
        ['Result', (s) => (s.result ? badge(s.result.verdict, s.result.verdict === 'qualified' ? 'ok' : 'bad') : '—')],
        ['Report', (s) => (s.result && s.result.report_sha256 ? 'attached' : 'missing')],
        ['Published', (s) => (s.result && s.result.published ? 'yes' : 'no')],
      ]), samples.filter((s) => s.stage === 'tested' || s.stage === 'published'), { empty: 'Nothing tested yet.' }));
  }

  mount(el,
    h('form', {
      class: 'card',
      onsubmit: (event) => {
        event.preventDefault();
        busy(find, out, () => open(code.value.trim()));
      },
    },
    h('h2', {}, 'Find a sample'),
    camera,
    field('Sample code', code, 'As on the label: S-XXXX-XXXX-X.'),
    h('div', { class: 'actions' }, find),
    out),
    panel,
    lists);
  await refresh();
}

function showSample(where, base, s, refresh) {
  const out = h('div', { 'aria-live': 'polite' });
  const path = `${base}/samples/${encodeURIComponent(s.sample_code)}`;
  const reload = async (message) => {
    toast(message);
    const fresh = await get(path);
    showSample(where, base, fresh, refresh);
    await refresh();
    where.querySelector('h2')?.focus();
  };
  const published = Boolean(s.result && s.result.published);

  const receive = () => {
    const b = h('button', { type: 'button', class: 'primary' }, 'Record its arrival');
    b.addEventListener('click', () => busy(b, out, async () => {
      await post(`${path}/receive`);
      await reload(`${s.sample_code} received.`);
    }));
    return h('div', { class: 'actions' }, b);
  };

  const resultForm = () => {
    const r = s.result;
    const failed = h('textarea', { name: 'failed_items', rows: '3' }, r ? r.failed_items.join('\n') : '');
    const standard = h('input', { type: 'text', name: 'standard', required: true, maxlength: '200', value: r ? r.standard : '' });
    const notes = h('textarea', { name: 'notes', rows: '2' }, r ? r.notes : '');
    const b = h('button', { type: 'submit', class: 'primary' }, r ? 'Correct the result' : 'Record the result');
    const form = h('form', {
      class: 'card',
      onsubmit: (event) => {
        event.preventDefault();
        busy(b, out, async () => {
          const verdict = form.querySelector('input[name=verdict]:checked').value;
          const items = failed.value.split('\n').map((x) => x.trim()).filter(Boolean);
          if (verdict === 'unqualified' && !items.length) throw { title: 'Name the failed items', detail: 'An unqualified result lists what failed, one item per line.' };
          await put(`${path}/result`, {
            verdict, failed_items: verdict === 'qualified' ? [] : items, standard: standard.value.trim(), notes: notes.value.trim(),
          });
          await reload('Result recorded.');
        });
      },
    },
    h('h3', {}, r ? 'The result (correctable until published)' : 'The result'),
    choices('Verdict', 'verdict', [['qualified', 'Qualified'], ['unqualified', 'Unqualified']], { checked: r ? r.verdict : 'qualified' }),
    field('Failed items (one per line)', failed),
    field('Standard tested against', standard, 'e.g. GB 2099.1-2021'),
    field('Notes', notes),
    h('div', { class: 'actions' }, b));
    return form;
  };

  const reportForm = () => {
    const file = h('input', { type: 'file', name: 'report', accept: 'application/pdf,.pdf', required: true });
    const b = h('button', { type: 'submit' }, s.result && s.result.report_sha256 ? 'Replace the report' : 'Upload the report');
    return h('form', {
      class: 'card',
      onsubmit: (event) => {
        event.preventDefault();
        busy(b, out, async () => {
          const chosen = file.files[0];
          if (!chosen) throw { title: 'Choose the PDF first' };
          await put(`${path}/report`, chosen, { type: 'application/pdf' });
          await reload('Report stored.');
        });
      },
    },
    h('h3', {}, 'Test report'),
    s.result && s.result.report_sha256
      ? h('p', {}, h('a', { href: `${path}/report`, target: '_blank', rel: 'noopener' }, 'Open the stored report'), h('span', { class: 'small muted' }, ` SHA-256 ${s.result.report_sha256.slice(0, 16)}…`))
      : null,
    field('Report (PDF)', file),
    h('div', { class: 'actions' }, b));
  };

  const exceptionForm = () => problemForm('this sample',
    [['damaged', 'Damaged'], ['wrong_item', 'Wrong item'], ['lost', 'Lost at the lab']],
    out, (body) => post(`${path}/exceptions`, body));

  mount(where,
    h('div', { class: 'card' },
      h('h2', { tabindex: '-1' }, 'Sample ', h('span', { class: 'code', 'data-testid': 'sample-code' }, s.sample_code), ' ', badge(s.stage)),
      h('dl', {},
        h('dt', {}, 'Category'), h('dd', {}, s.category),
        h('dt', {}, 'What to test'), h('dd', {}, s.test_plan || '—'),
        h('dt', {}, 'Received'), h('dd', {}, when(s.received_at)),
        s.result ? [h('dt', {}, 'Result'), h('dd', {}, badge(s.result.verdict, s.result.verdict === 'qualified' ? 'ok' : 'bad'),
          s.result.failed_items.length ? ` ${s.result.failed_items.join('; ')}` : '', ` · ${s.result.standard}`, published ? ' · published' : '')] : null)),
    out,
    s.stage === 'forwarded' ? receive() : null,
    (s.stage === 'at_lab' || s.stage === 'tested') && !published ? resultForm() : null,
    s.result ? reportForm() : null,
    s.stage !== 'forwarded' ? exceptionForm() : null,
    published ? h('p', { class: 'muted' }, 'The result is published and can no longer change.') : null);
}
