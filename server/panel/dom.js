// Building the page without a framework: elements are made with `h`, text
// is always set as text (never parsed as HTML), and small helpers give
// every control its label and every table its header.

let lastId = 0;

/** A fresh element id, for label/input pairs. */
export function uid(prefix = 'f') {
  lastId += 1;
  return `${prefix}-${lastId}`;
}

/**
 * `h('button', { class: 'primary', onclick: go }, 'Save')`. Props starting
 * with `on` are listeners; `dataset` and `style` take objects; `null`,
 * `undefined` and `false` props and children are skipped.
 */
export function h(tag, props, ...children) {
  const el = tag.startsWith('svg:')
    ? document.createElementNS('http://www.w3.org/2000/svg', tag.slice(4))
    : document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2), value);
    } else if (key === 'dataset') {
      Object.assign(el.dataset, value);
    } else if (key === 'style') {
      for (const [k, v] of Object.entries(value)) el.style.setProperty(k, v);
    } else if (key === 'class') {
      el.setAttribute('class', Array.isArray(value) ? value.filter(Boolean).join(' ') : value);
    } else if (key === 'value' && 'value' in el && !(el instanceof SVGElement)) {
      el.value = value;
    } else if ((key === 'checked' || key === 'selected' || key === 'disabled') && !(el instanceof SVGElement)) {
      // The attribute too: it is what a form's reset() goes back to.
      el.setAttribute(key, '');
      el[key] = true;
    } else {
      el.setAttribute(key, value === true ? '' : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else if (child instanceof Node) el.appendChild(child);
    else el.appendChild(document.createTextNode(String(child)));
  }
}

/** Replaces everything inside `el`. */
export function mount(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** A labelled control: `field('Name', h('input', {...}), 'hint')`. */
export function field(label, control, hint) {
  const id = control.id || uid();
  control.id = id;
  let hintEl = null;
  if (hint) {
    hintEl = h('small', { id: `${id}-hint` }, hint);
    control.setAttribute('aria-describedby', hintEl.id);
  }
  return h('div', { class: 'field' }, h('label', { for: id }, label), control, hintEl);
}

/** A group of radio buttons or check boxes with a legend. */
export function choices(legend, name, options, { type = 'radio', checked = [], required = false } = {}) {
  const picked = new Set(Array.isArray(checked) ? checked : [checked]);
  return h('fieldset', { class: 'field' },
    h('legend', {}, legend),
    h('div', { class: 'choices' }, options.map(([value, text], i) => h('label', {},
      h('input', { type, name, value, checked: picked.has(value), required: required && type === 'radio' && i === 0 }),
      text))));
}

/** The values of the checked boxes named `name` in `form`. */
export function checkedValues(form, name) {
  return [...form.querySelectorAll(`input[name="${name}"]:checked`)].map((i) => i.value);
}

/** A table with a caption (kept for screen readers but not shown with
 *  `hideCaption`, under a heading that says the same) and a header row;
 *  `columns` are `[title, cell(row), class?]`. */
export function table(caption, columns, rows, { empty = 'Nothing yet.', rowAttrs, hideCaption = false } = {}) {
  if (!rows.length) return h('p', { class: 'muted' }, empty);
  return h('div', { class: 'scroll' },
    h('table', {},
      caption ? h('caption', { class: hideCaption ? 'sr-only' : null }, caption) : null,
      h('thead', {}, h('tr', {}, columns.map(([title, , cls]) => h('th', { scope: 'col', class: cls }, title)))),
      h('tbody', {}, rows.map((row) => h('tr', rowAttrs ? rowAttrs(row) : {},
        columns.map(([, cell, cls]) => h('td', { class: cls }, cell(row))))))));
}

/** An error shown where the action was, with the server's row errors. */
export function errorBox(error) {
  const rows = error && error.problem && error.problem.errors;
  return h('div', { class: 'alert error', role: 'alert' },
    h('strong', {}, error.title || 'Something went wrong'),
    error.detail && error.detail !== error.title ? h('div', {}, error.detail) : null,
    Array.isArray(rows) && rows.length
      ? h('ul', {}, rows.map((r) => h('li', {}, rowError(r))))
      : null);
}

function rowError(r) {
  const where = [r.row !== undefined ? `Row ${r.row}` : null, r.field ? `column ${r.field}` : null].filter(Boolean).join(', ');
  return `${where ? `${where}: ` : ''}${r.message}`;
}

/** A short-lived message read out by screen readers. */
export function toast(message) {
  const box = document.getElementById('toast');
  const item = h('div', {}, message);
  mount(box, item);
  setTimeout(() => { if (item.parentNode === box) box.replaceChildren(); }, 4000);
}

/** Money in minor units, in its currency. */
export function money(minor, currency = 'CNY') {
  if (minor === null || minor === undefined) return '—';
  try {
    return new Intl.NumberFormat(undefined, { style: 'currency', currency }).format(minor / 100);
  } catch {
    return `${(minor / 100).toFixed(2)} ${currency}`;
  }
}

/** An instant as local date and time. */
export function when(value) {
  if (value === null || value === undefined || value === '') return '—';
  const d = typeof value === 'number' ? new Date(value / 1000) : new Date(value);
  if (Number.isNaN(d.getTime())) return String(value);
  return d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

/** A date as `YYYY-MM-DD` for `<input type="date">`. */
export function dateInput(value) {
  if (!value) return '';
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? '' : d.toISOString().slice(0, 10);
}

/** Words for machine names: `at_lab` → `at lab`. */
export function words(name) {
  return String(name ?? '').replaceAll('_', ' ');
}

/** A status badge with a colour by meaning. */
export function badge(text, tone) {
  return h('span', { class: ['badge', tone] }, words(text));
}

/** Runs `action` from a button: disables it meanwhile, shows errors in `where`. */
export async function busy(button, where, action) {
  button.disabled = true;
  if (where) where.replaceChildren();
  try {
    return await action();
  } catch (error) {
    if (where) {
      mount(where, errorBox(error));
      where.querySelector('[role="alert"]')?.focus?.();
    } else {
      toast(error.detail || error.message);
    }
    return undefined;
  } finally {
    button.disabled = false;
  }
}

/** A page title; focusing it tells screen readers the page changed. */
export function title(text, ...more) {
  document.title = `${text} · Mystery Buyer`;
  return h('h1', { tabindex: '-1' }, text, ...more);
}

/** A UUID for ids the client makes (commits, scans). */
export function newId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const hex = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** A folded form to report a problem (an exception) with `what` ("this
 * parcel", "this sample"): `kinds` as [value, label]; `send({kind, note})`
 * reports it, and the coordinators are told. */
export function problemForm(what, kinds, out, send) {
  const kind = h('select', { name: 'kind' }, kinds.map(([k, t]) => h('option', { value: k }, t)));
  const note = h('input', { type: 'text', name: 'note', maxlength: '2000', autocomplete: 'off' });
  const b = h('button', { type: 'submit', class: 'danger' }, 'Report');
  return h('details', { class: 'card' },
    h('summary', {}, `Report a problem with ${what}`),
    h('form', {
      onsubmit: (event) => {
        event.preventDefault();
        busy(b, out, async () => {
          await send({ kind: kind.value, note: note.value.trim() });
          toast('The coordinators are told.');
          event.target.reset();
        });
      },
    }, field('What is wrong', kind), field('Note', note), h('div', { class: 'actions' }, b)));
}
