// Passkeys in the browser: the API's ceremony options (webauthn-rs JSON,
// binary fields as base64url) become `navigator.credentials` arguments, and
// the credential comes back as the JSON the API's finish routes take.

function decode(text) {
  const base64 = text.replaceAll('-', '+').replaceAll('_', '/');
  const padded = base64 + '='.repeat((4 - (base64.length % 4)) % 4);
  const binary = atob(padded);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i += 1) bytes[i] = binary.charCodeAt(i);
  return bytes.buffer;
}

function encode(buffer) {
  const bytes = new Uint8Array(buffer);
  let binary = '';
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '');
}

/** Whether this browser can use passkeys at all. */
export function supported() {
  return Boolean(window.PublicKeyCredential && navigator.credentials && window.isSecureContext);
}

function withIds(list) {
  return (list || []).map((c) => ({ ...c, id: decode(c.id) }));
}

/** Registers a new passkey from a started ceremony; answers the credential JSON. */
export async function create(started) {
  const options = started.public_key.publicKey;
  const publicKey = {
    ...options,
    challenge: decode(options.challenge),
    user: { ...options.user, id: decode(options.user.id) },
    excludeCredentials: withIds(options.excludeCredentials),
  };
  const credential = await navigator.credentials.create({ publicKey });
  if (!credential) throw new Error('No passkey was created.');
  return {
    id: credential.id,
    rawId: encode(credential.rawId),
    type: credential.type,
    response: {
      attestationObject: encode(credential.response.attestationObject),
      clientDataJSON: encode(credential.response.clientDataJSON),
    },
    extensions: {},
  };
}

/** Signs a started sign-in with a passkey; answers the credential JSON. */
export async function get(started) {
  const options = started.public_key.publicKey;
  const publicKey = {
    ...options,
    challenge: decode(options.challenge),
    allowCredentials: withIds(options.allowCredentials),
  };
  const credential = await navigator.credentials.get({ publicKey });
  if (!credential) throw new Error('No passkey was used.');
  const r = credential.response;
  return {
    id: credential.id,
    rawId: encode(credential.rawId),
    type: credential.type,
    response: {
      authenticatorData: encode(r.authenticatorData),
      clientDataJSON: encode(r.clientDataJSON),
      signature: encode(r.signature),
      userHandle: r.userHandle ? encode(r.userHandle) : null,
    },
    extensions: {},
  };
}

/** Words for what a passkey prompt's failure means. */
export function explain(error) {
  if (error && error.name === 'NotAllowedError') return 'The passkey prompt was closed or timed out. Try again.';
  if (error && error.name === 'InvalidStateError') return 'This device already holds a passkey for this account.';
  if (error && error.name === 'SecurityError') return 'Passkeys do not work at this address (it must be the server\'s configured origin).';
  return (error && (error.detail || error.message)) || 'The passkey could not be used.';
}

/** A device name for the session list: the browser and platform. */
export function deviceName() {
  const ua = navigator.userAgent;
  const browser = /Firefox\//.test(ua) ? 'Firefox' : /Edg\//.test(ua) ? 'Edge' : /Chrom(e|ium)\//.test(ua) ? 'Chromium' : /Safari\//.test(ua) ? 'Safari' : 'Browser';
  const platform = (navigator.userAgentData && navigator.userAgentData.platform) || navigator.platform || '';
  return `${browser}${platform ? ` on ${platform}` : ''}`.slice(0, 100);
}
