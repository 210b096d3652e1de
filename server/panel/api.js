// Talking to the JSON API of this same origin with the browser session:
// the HttpOnly cookie `mb_session` goes by itself, and every request that
// changes something carries the CSRF token from the readable cookie
// `mb_csrf` as `X-CSRF-Token`. Errors are the API's problem documents.

const CSRF_COOKIE = 'mb_csrf';

/** A problem document the API answered with (or a network failure). */
export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
    this.code = problem.code || 'unknown';
    this.title = problem.title || 'The request failed';
    this.detail = problem.detail || '';
  }
}

/** The CSRF token of this browser's session, if it has one. */
export function csrfToken() {
  for (const part of document.cookie.split(';')) {
    const [name, ...rest] = part.trim().split('=');
    if (name === CSRF_COOKIE) return decodeURIComponent(rest.join('='));
  }
  return '';
}

/** Whether this browser looks signed in (it holds a CSRF cookie). */
export function mayBeSignedIn() {
  return csrfToken() !== '';
}

/** Forgets the readable half of the session (after sign-out or expiry). */
export function forgetSession() {
  document.cookie = `${CSRF_COOKIE}=; Max-Age=0; Path=/; SameSite=Strict`;
}

const listeners = new Set();

/** Called with no arguments whenever the API says the session is gone. */
export function onSignedOut(callback) {
  listeners.add(callback);
}

/**
 * One request. `body` is sent as JSON unless `type` names another content
 * type (then it goes as it is: a string, a Blob or a File). Answers the
 * parsed JSON, the text, a Blob (`as: 'blob'`) or `null` for 204.
 */
export async function api(method, path, body, { type, as } = {}) {
  const headers = { Accept: 'application/json' };
  const init = { method, headers, credentials: 'same-origin', cache: 'no-store' };
  if (method !== 'GET' && method !== 'HEAD') headers['X-CSRF-Token'] = csrfToken();
  if (body !== undefined) {
    if (type) {
      headers['Content-Type'] = type;
      init.body = body;
    } else {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (e) {
    throw new ApiError(0, { title: 'The server cannot be reached', detail: `Check the connection and try again (${e.message}).` });
  }
  if (!response.ok) {
    let problem;
    try {
      problem = await response.json();
    } catch {
      problem = { title: `HTTP ${response.status}`, detail: response.statusText };
    }
    const error = new ApiError(response.status, problem);
    if (response.status === 401 && !path.startsWith('/api/auth/')) {
      forgetSession();
      for (const callback of listeners) callback(error);
    }
    throw error;
  }
  if (response.status === 204) return null;
  if (as === 'blob') return response.blob();
  const contentType = response.headers.get('Content-Type') || '';
  if (contentType.includes('json')) return response.json();
  return response.text();
}

export const get = (path, options) => api('GET', path, undefined, options);
export const post = (path, body, options) => api('POST', path, body === undefined ? {} : body, options);
export const put = (path, body, options) => api('PUT', path, body, options);
export const patch = (path, body) => api('PATCH', path, body);
export const del = (path) => api('DELETE', path);

/** `?a=1&b=2` from an object, leaving out empty values. */
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') q.set(k, v);
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}

/**
 * Uploads a file through tus 1.0 (`/api/uploads`) in one request
 * (creation-with-upload) under the id `id` this device made, named by
 * `key` (`photo_id` for a relay station's photo, `evidence_id` for
 * evidence); answers the id.
 */
export async function tusUpload(file, id, key = 'photo_id') {
  const b64 = (s) => btoa(unescape(encodeURIComponent(s)));
  const headers = {
    'Tus-Resumable': '1.0.0',
    'Upload-Length': String(file.size),
    'Upload-Metadata': `${key} ${b64(id)},filename ${b64(file.name || 'photo')}`,
    'Content-Type': 'application/offset+octet-stream',
    'X-CSRF-Token': csrfToken(),
  };
  const response = await fetch('/api/uploads', { method: 'POST', headers, body: file, credentials: 'same-origin' });
  if (!response.ok) {
    let problem;
    try { problem = await response.json(); } catch { problem = { title: `HTTP ${response.status}` }; }
    throw new ApiError(response.status, problem);
  }
  return id;
}

/** Parses CSV text (RFC 4180: quotes, doubled quotes, CRLF) into rows of objects by header. */
export function parseCsv(text) {
  const rows = [];
  let row = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i += 1) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { cell += '"'; i += 1; } else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') { row.push(cell); cell = ''; } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i += 1;
      row.push(cell); rows.push(row); row = []; cell = '';
    } else cell += c;
  }
  if (cell !== '' || row.length) { row.push(cell); rows.push(row); }
  const [header, ...body] = rows.filter((r) => r.length > 1 || r[0] !== '');
  if (!header) return [];
  return body.map((r) => Object.fromEntries(header.map((name, i) => [name, r[i] ?? ''])));
}
