// Uploads one file with tus-js-client (Node), as a real app would, for the
// stories in tests/tests/e2e/tus_clients.rs.
//
//   MB_TUS_TOKEN=<bearer token> MB_TEST_NODE_MODULES=<node_modules> \
//   node tus_upload.mjs --endpoint http://127.0.0.1:PORT/api/uploads \
//     --file chat.txt --metadata '{"evidence_id":"…","filename":"chat.txt"}' \
//     [--chunk-size BYTES] [--abort-after BYTES] [--data-during-creation] \
//     [--defer-length] [--buffer]
//
// With --abort-after, the first upload is aborted with upload.abort() in the
// middle of the PATCH that crosses that many bytes, once they are sent (an
// fs.ReadStream source only); the script then asks the server's offset with
// its own HEAD and finishes the file with a NEW tus.Upload given the upload
// URL, which asks the offset with HEAD again and goes on from there. The last line of stdout is one JSON object:
//   {"url", "bytes", "resumed_from", "head_offset", "requests": [...]}
// On any error the error is printed to stderr and the exit status is 1.

import { createRequire } from 'node:module'
import fs from 'node:fs'
import path from 'node:path'
import { Readable, Transform } from 'node:stream'
import { parseArgs } from 'node:util'

const nodeModules = process.env.MB_TEST_NODE_MODULES
if (!nodeModules) {
  console.error('MB_TEST_NODE_MODULES is not set (cargo xtask services prints it)')
  process.exit(2)
}
// ESM ignores NODE_PATH; resolve tus-js-client from the cached install.
const require = createRequire(path.join(nodeModules, '..', 'package.json'))
const tus = require('tus-js-client')
const tusVersion = require('tus-js-client/package.json').version

const { values: args } = parseArgs({
  options: {
    endpoint: { type: 'string' },
    file: { type: 'string' },
    metadata: { type: 'string', default: '{}' },
    'chunk-size': { type: 'string' },
    'abort-after': { type: 'string' },
    'data-during-creation': { type: 'boolean', default: false },
    'defer-length': { type: 'boolean', default: false },
    // Hand tus-js-client a Buffer instead of an fs.ReadStream.
    buffer: { type: 'boolean', default: false },
  },
})
for (const required of ['endpoint', 'file']) {
  if (!args[required]) {
    console.error(`--${required} is required`)
    process.exit(2)
  }
}
const token = process.env.MB_TUS_TOKEN
if (!token) {
  console.error('MB_TUS_TOKEN is not set')
  process.exit(2)
}

const size = fs.statSync(args.file).size
const chunkSize = args['chunk-size'] ? Number(args['chunk-size']) : Number.POSITIVE_INFINITY
const abortAfter = args['abort-after'] ? Number(args['abort-after']) : null
const headers = { Authorization: `Bearer ${token}` }

// Every request the client sends and the answer, for the test's assertions.
const requests = []
function hooks(upload) {
  return {
    onBeforeRequest(req) {
      requests.push({
        upload,
        method: req.getMethod(),
        upload_offset: req.getHeader('Upload-Offset') ?? null,
        upload_length: req.getHeader('Upload-Length') ?? null,
        defer_length: req.getHeader('Upload-Defer-Length') ?? null,
        content_type: req.getHeader('Content-Type') ?? null,
        status: null,
        answered_offset: null,
      })
    },
    onAfterResponse(req, res) {
      const entry = requests.findLast(
        (r) => r.upload === upload && r.method === req.getMethod() && r.status === null,
      )
      if (entry) {
        entry.status = res.getStatus()
        entry.answered_offset = res.getHeader('Upload-Offset') ?? null
      }
    },
  }
}

function source() {
  // A path-based fs.ReadStream: tus-js-client reads each chunk from the file.
  // With a deferred length, tus-js-client 4's FileSource reports the end only
  // when one chunk holds the whole file, so then a Buffer.
  return args.buffer || args['defer-length'] ? fs.readFileSync(args.file) : fs.createReadStream(args.file)
}

function options(name, extra) {
  return {
    endpoint: args.endpoint,
    headers,
    chunkSize,
    metadata: JSON.parse(args.metadata),
    retryDelays: [0, 200, 500],
    removeFingerprintOnSuccess: true,
    uploadDataDuringCreation: args['data-during-creation'],
    uploadLengthDeferred: args['defer-length'],
    ...hooks(name),
    ...extra,
  }
}

// Holds a PATCH body once the upload as a whole has sent `at` bytes and
// calls `reached` (once). tus-js-client throttles onProgress to one call per
// 100 ms, and on loopback a 1 MiB chunk is sent within that, so waiting for
// onProgress alone would abort between PATCHes, never during one.
class Gate extends Transform {
  constructor(allowed, reached) {
    super()
    this._left = allowed
    this._reached = reached
  }

  _transform(chunk, _encoding, callback) {
    if (this._left <= 0) return // held: never calls back
    const part = chunk.subarray(0, this._left)
    this._left -= part.length
    this.push(part)
    if (this._left > 0) return callback()
    this._reached()
  }
}

// tus-js-client's own Node HTTP stack, with the PATCH that crosses `at` held
// there by a Gate.
class InterruptingStack {
  constructor(at, reached) {
    this._inner = new tus.DefaultHttpStack()
    this._at = at
    this._reached = reached
  }

  createRequest(method, url) {
    const req = this._inner.createRequest(method, url)
    const send = req.send.bind(req)
    req.send = (body) => {
      const start = Number(req.getHeader('Upload-Offset') ?? 0)
      const allowed = this._at - start
      if (body instanceof Readable && allowed > 0 && allowed < body.size) {
        const gate = body.pipe(new Gate(allowed, this._reached))
        gate.size = body.size // the Content-Length still says the whole chunk
        return send(gate)
      }
      return send(body)
    }
    return req
  }

  getName() {
    return 'InterruptingStack'
  }
}

// Starts an upload and, once `limit` bytes of it are sent (in the middle of
// a PATCH), calls upload.abort() (without terminating the upload); resolves
// with its URL.
function startAndAbort(limit) {
  return new Promise((resolve, reject) => {
    let aborted = false
    const upload = new tus.Upload(
      source(),
      options('first', {
        httpStack: new InterruptingStack(limit, () => {
          if (aborted) return
          aborted = true
          // Let the server take in what was sent, then drop the connection.
          setTimeout(() => {
            console.error(`aborting after ${limit} bytes, in the middle of a PATCH`)
            upload
              .abort(false)
              .then(() => resolve(upload.url))
              .catch(reject)
          }, 500)
        }),
        onError: reject,
        onSuccess: () => reject(new Error(`the upload finished before ${limit} bytes were sent`)),
      }),
    )
    upload.start()
  })
}

function run(upload) {
  return new Promise((resolve, reject) => {
    upload.options.onError = reject
    upload.options.onSuccess = () => resolve(upload)
    upload.start()
  })
}

// HEAD the upload ourselves until its offset stops moving: the server may
// still be storing what arrived of the aborted PATCH.
async function settledOffset(url) {
  let last = null
  for (let i = 0; i < 50; i++) {
    const res = await fetch(url, {
      method: 'HEAD',
      headers: { ...headers, 'Tus-Resumable': '1.0.0' },
    })
    if (res.status !== 200) {
      throw new Error(`HEAD ${url}: ${res.status}`)
    }
    const offset = Number(res.headers.get('upload-offset'))
    if (offset === last) return offset
    last = offset
    await new Promise((r) => setTimeout(r, 300))
  }
  throw new Error(`the offset of ${url} did not settle`)
}

async function main() {
  let url
  let headOffset = null
  let resumedFrom = 0
  if (abortAfter !== null) {
    url = await startAndAbort(abortAfter)
    console.error(`aborted ${url}`)
    headOffset = await settledOffset(url)
    console.error(`the server has ${headOffset} of ${size} bytes; resuming with a new tus.Upload`)
    const second = new tus.Upload(source(), options('resumed', { uploadUrl: url }))
    await run(second)
    const firstPatch = requests.find((r) => r.upload === 'resumed' && r.method === 'PATCH')
    resumedFrom = firstPatch ? Number(firstPatch.upload_offset) : null
  } else {
    const upload = new tus.Upload(source(), options('only', {}))
    await run(upload)
    url = upload.url
  }
  const last = requests.at(-1)
  console.log(
    JSON.stringify({
      client: `tus-js-client ${tusVersion}`,
      url,
      bytes: size,
      final_offset: last?.answered_offset == null ? null : Number(last.answered_offset),
      head_offset: headOffset,
      resumed_from: resumedFrom,
      requests,
    }),
  )
}

main().catch((e) => {
  console.error(`tus-js-client failed: ${e?.stack ?? e}`)
  if (e?.originalResponse) {
    console.error(
      `last response: ${e.originalResponse.getStatus()} ${e.originalResponse.getBody()}`,
    )
  }
  console.error(`requests: ${JSON.stringify(requests)}`)
  process.exit(1)
})
