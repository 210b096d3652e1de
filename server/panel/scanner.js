// Reading a code with the device's camera, where the browser has the
// BarcodeDetector API (Chrome on Android and macOS, for example); other
// browsers get no camera button and the code is typed. Nothing leaves the
// device: frames are read in the page.

import { h } from './dom.js';

const FORMATS = ['code_128', 'qr_code', 'code_39', 'ean_13', 'itf', 'codabar', 'data_matrix'];

/** Whether the camera scan can be offered here. */
export async function available() {
  if (!('BarcodeDetector' in window) || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) return false;
  try {
    const supported = await window.BarcodeDetector.getSupportedFormats();
    return supported.length > 0;
  } catch {
    return false;
  }
}

/**
 * A "Scan with the camera" button that, once a code is read, calls
 * `found(text)`; returns null where the browser cannot.
 */
export async function cameraButton(found, label = 'Scan with the camera') {
  if (!(await available())) return null;
  const supported = await window.BarcodeDetector.getSupportedFormats();
  const detector = new window.BarcodeDetector({ formats: FORMATS.filter((f) => supported.includes(f)) });
  const video = h('video', { class: 'camera hidden', muted: true, playsinline: true, 'aria-label': 'Camera view' });
  const status = h('p', { class: 'small muted', 'aria-live': 'polite' });
  const button = h('button', { type: 'button' }, label);
  let stream = null;
  let timer = null;

  function stop() {
    if (timer) clearTimeout(timer);
    timer = null;
    if (stream) for (const track of stream.getTracks()) track.stop();
    stream = null;
    video.classList.add('hidden');
    button.textContent = label;
  }

  async function tick() {
    if (!stream) return;
    try {
      const codes = await detector.detect(video);
      if (codes.length) {
        const text = codes[0].rawValue;
        stop();
        status.textContent = `Read ${text}.`;
        found(text);
        return;
      }
    } catch {
      // A frame that is not ready yet: try the next one.
    }
    timer = setTimeout(tick, 200);
  }

  button.addEventListener('click', async () => {
    if (stream) {
      stop();
      return;
    }
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: 'environment' }, audio: false });
    } catch (e) {
      status.textContent = `The camera cannot be used (${e.name}). Type the code instead.`;
      return;
    }
    video.srcObject = stream;
    video.classList.remove('hidden');
    await video.play().catch(() => {});
    button.textContent = 'Stop the camera';
    status.textContent = 'Point the camera at the barcode.';
    tick();
  });
  window.addEventListener('hashchange', stop, { once: true });
  return h('div', { class: 'stack' }, button, video, status);
}
