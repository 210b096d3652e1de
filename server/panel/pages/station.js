// The relay station's page, made for a phone: scan a parcel (camera where
// the browser can read barcodes, else typed), record its condition and
// photos, and see what to do with it: hold it, open and seal it in front
// of a witness, or relabel and forward it (the label to print, then the
// carrier and tracking number). A station sees codes and the destination
// lab, never the buyer, the shop or the campaign.

import { get, post, tusUpload, query } from '../api.js';
import { h, mount, field, choices, table, title, badge, busy, toast, when, problemForm, words, newId } from '../dom.js';
import { cameraButton } from '../scanner.js';

const INSTRUCTIONS = {
  hold: ['hold', 'Hold the parcel', 'No order matches it yet. Put it on the waiting shelf: it is matched as soon as the buyer’s tracking number arrives.'],
  witness_first: ['witness', 'Open and seal it in front of a witness', 'This campaign asks for a witnessed opening before the parcel is relabelled.'],
  relabel_and_forward: ['forward', 'Relabel and forward', 'Stick the new label over the old one and hand the parcel to a carrier for the lab.'],
  done: ['done', 'Already forwarded', 'This parcel has left the station.'],
};

/** The page for a relay operator (`me.workplaces` are their stations). */
export async function render(el, me) {
  const stations = me.workplaces || [];
  if (!stations.length) {
    mount(el, title('Relay station'), h('div', { class: 'alert info' }, 'You are not an operator of any relay station yet. An administrator adds you to one.'));
    return;
  }
  const saved = localStorage.getItem('mb-station');
  let station = stations.find((s) => s.id === saved) || stations[0];
  const body = h('div');
  const picker = stations.length > 1
    ? field('Station', h('select', {
      onchange: (e) => {
        station = stations.find((s) => s.id === e.target.value);
        localStorage.setItem('mb-station', station.id);
        show();
      },
    }, stations.map((s) => h('option', { value: s.id, selected: s.id === station.id }, s.name))))
    : null;
  async function show() {
    await stationPage(body, station);
  }
  mount(el, title(stations.length > 1 ? 'Relay station' : station.name), picker, body);
  await show();
}

async function stationPage(el, station) {
  const base = `/api/stations/${encodeURIComponent(station.id)}`;
  const result = h('div', { 'aria-live': 'polite' });
  const lists = h('div');
  const out = h('div', { 'aria-live': 'polite' });

  const code = h('input', {
    type: 'text', name: 'code', required: true, autocomplete: 'off', autocapitalize: 'characters', spellcheck: 'false', enterkeyhint: 'go', maxlength: '100',
  });
  const note = h('textarea', { name: 'note', maxlength: '2000', rows: '2' });
  const photos = h('input', { type: 'file', name: 'photos', accept: 'image/*', capture: 'environment', multiple: true });
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Record the scan');
  const camera = await cameraButton((text) => {
    code.value = text;
    code.focus();
  });

  const form = h('form', {
    class: 'card',
    onsubmit: (event) => {
      event.preventDefault();
      busy(submit, out, async () => {
        const condition = form.querySelector('input[name=condition]:checked').value;
        const files = [...photos.files];
        const ids = [];
        // Each photo is uploaded under an id made here, then named by the
        // scan; the server joins them in either order.
        for (const file of files) ids.push(await tusUpload(file, newId(), 'photo_id'));
        const scan = await post(`${base}/scans`, {
          id: newId(), code: code.value.trim(), condition, note: note.value.trim(), photos: ids, scanned_at: new Date().toISOString(),
        });
        form.reset();
        showScan(result, base, scan);
        await refreshLists();
        result.querySelector('h2')?.focus();
      });
    },
  },
  h('h2', {}, 'Scan a parcel'),
  camera,
  field('Tracking number or recipient code', code, 'The carrier’s barcode, or the code written instead of a name (MB-…).'),
  choices('Condition', 'condition', [['intact', 'Intact'], ['damaged', 'Damaged']], { checked: 'intact' }),
  field('Note (optional)', note),
  field('Photos of the parcel (optional)', photos),
  h('div', { class: 'actions' }, submit),
  out);

  async function refreshLists() {
    const [here, waiting] = await Promise.all([get(`${base}/parcels${query({ stage: 'at_station' })}`), get(`${base}/scans`)]);
    mount(lists,
      h('h2', {}, 'At this station'),
      table('Parcels to seal or forward', [
        ['Sample', (p) => h('button', { type: 'button', class: 'link code', onclick: () => openParcel(p.sample_code) }, p.sample_code)],
        ['To do', (p) => words(p.instruction)],
        ['Condition', (p) => p.condition || ''],
      ], here, { empty: 'No parcel waits to go on.' }),
      h('h2', {}, 'Waiting for a match'),
      table('Scans no order matches yet', [
        ['Scanned', (s) => when(s.scanned_at)],
        ['Code', (s) => h('span', { class: 'code' }, s.code)],
        ['Condition', (s) => s.condition],
      ], waiting, { empty: 'Nothing waits for a match.' }));
  }

  async function openParcel(sample) {
    const parcel = await get(`${base}/parcels/${encodeURIComponent(sample)}`);
    showParcel(result, base, parcel, refreshLists);
    result.querySelector('h2')?.focus();
  }

  function showScan(where, b, scan) {
    if (scan.parcel) {
      showParcel(where, b, scan.parcel, refreshLists, scan);
      return;
    }
    const [cls, what, why] = INSTRUCTIONS.hold;
    mount(where, h('div', { class: `instruction ${cls}` },
      h('h2', { class: 'what', tabindex: '-1' }, what),
      h('span', { class: 'code' }, scan.code),
      h('p', {}, why)));
  }

  // The instruction for the parcel just scanned comes first: on a phone
  // it is what the operator looks at next.
  mount(el, result, form, lists);
  await refreshLists();
}

function showParcel(where, base, parcel, refreshLists, scan) {
  const [cls, what, why] = INSTRUCTIONS[parcel.instruction] || INSTRUCTIONS.done;
  const out = h('div', { 'aria-live': 'polite' });
  const sample = parcel.sample_code;
  const path = `${base}/parcels/${encodeURIComponent(sample)}`;
  const reload = async () => {
    const fresh = await get(path);
    showParcel(where, base, fresh, refreshLists);
    await refreshLists();
    where.querySelector('h2')?.focus();
  };

  const sealForm = () => {
    const witness = h('input', { type: 'text', name: 'witness', required: true, maxlength: '200', autocomplete: 'off' });
    const b = h('button', { type: 'submit', class: 'primary' }, 'Record the witnessed sealing');
    return h('form', {
      class: 'card',
      onsubmit: (event) => {
        event.preventDefault();
        busy(b, out, async () => {
          await post(`${path}/seal`, { witness: witness.value.trim() });
          toast('Sealing recorded.');
          await reload();
        });
      },
    }, field('Witness’s name (as on the paper record)', witness), h('div', { class: 'actions' }, b));
  };

  const labelSection = () => {
    const png = `${path}/label${query({ format: 'png', dpi: 200 })}`;
    const print = h('button', { type: 'button', class: 'primary', onclick: () => window.print() }, 'Print the label');
    return h('div', { class: 'card' },
      h('h3', {}, 'The new label'),
      h('div', { class: 'print-area' }, h('img', { class: 'label-preview', src: png, alt: `Label for sample ${sample}: barcode and QR code of the sample code, and the lab’s address` })),
      h('div', { class: 'actions' }, print,
        h('a', { class: 'button', href: `${path}/label${query({ format: 'pdf' })}`, target: '_blank', rel: 'noopener' }, 'Open the label (PDF)'),
        h('a', { class: 'button', href: png, target: '_blank', rel: 'noopener' }, 'Open the label (PNG)')));
  };

  const forwardForm = () => {
    const carrier = h('input', { type: 'text', name: 'carrier', required: true, maxlength: '100', autocomplete: 'off' });
    const tracking = h('input', { type: 'text', name: 'tracking_number', required: true, maxlength: '100', autocomplete: 'off', autocapitalize: 'characters' });
    const b = h('button', { type: 'submit', class: 'primary' }, 'Record the hand-over');
    return h('form', {
      class: 'card',
      onsubmit: (event) => {
        event.preventDefault();
        busy(b, out, async () => {
          await post(`${path}/forward`, { carrier: carrier.value.trim(), tracking_number: tracking.value.trim() });
          toast(`${sample} forwarded.`);
          await reload();
        });
      },
    }, h('h3', {}, 'Forward to the lab'), field('Carrier', carrier), field('Tracking number', tracking), h('div', { class: 'actions' }, b));
  };

  const exceptionForm = () => problemForm('this parcel',
    [['damaged', 'Damaged'], ['wrong_item', 'Wrong item'], ['returned', 'Return to sender']],
    out, (body) => post(`${path}/exceptions`, body));

  mount(where,
    h('div', { class: `instruction ${cls}` },
      h('h2', { class: 'what', tabindex: '-1' }, what),
      h('span', { class: 'code', 'data-testid': 'sample-code' }, sample),
      h('p', {}, why),
      scan && scan.condition === 'damaged' ? h('p', {}, h('strong', {}, 'Recorded as damaged: the coordinators are told.')) : null),
    h('div', { class: 'card' },
      h('dl', {},
        h('dt', {}, 'Destination'), h('dd', {}, parcel.destination ? [parcel.destination.name, h('br'), parcel.destination.address.join(', ')] : '—'),
        h('dt', {}, 'Arrived with'), h('dd', {}, `${parcel.tracking_number || '—'} · ${parcel.recipient_code}`),
        h('dt', {}, 'Condition'), h('dd', {}, parcel.condition || '—'),
        h('dt', {}, 'Stage'), h('dd', {}, badge(parcel.stage)),
        parcel.forwarded_at ? [h('dt', {}, 'Forwarded'), h('dd', {}, `${when(parcel.forwarded_at)} · ${parcel.outgoing_carrier} ${parcel.outgoing_tracking_number}`)] : null)),
    out,
    parcel.instruction === 'witness_first' ? sealForm() : null,
    parcel.instruction === 'relabel_and_forward' ? [labelSection(), forwardForm()] : null,
    parcel.instruction === 'relabel_and_forward' || parcel.instruction === 'witness_first' ? exceptionForm() : null);
}
