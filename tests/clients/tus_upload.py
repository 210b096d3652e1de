"""Uploads one file with tuspy, as a real Python client would, for the stories
in tests/tests/e2e/tus_clients.rs.

    MB_TUS_TOKEN=<bearer token> python3 tus_upload.py \\
        --endpoint http://127.0.0.1:PORT/api/uploads --file chat.txt \\
        --metadata '{"evidence_id": "...", "filename": "chat.txt"}' \\
        [--chunk-size BYTES] [--abort-after BYTES] [--checksum]

With --abort-after, a first uploader sends chunks until the server's offset
passes that many bytes and is then dropped, as when the app is killed; the
script asks the server's offset with its own HEAD and finishes the file with
a NEW uploader given the upload URL (tuspy asks the offset with HEAD). The
last line of stdout is one JSON object:
    {"url", "bytes", "resumed_from", "head_offset", "requests": [...]}
On any error the error is printed to stderr and the exit status is 1.
"""

import argparse
import json
import os
import sys
import traceback

import requests
from tusclient import client

try:
    from importlib.metadata import version

    TUSPY_VERSION = version("tuspy")
except Exception:  # pragma: no cover - only for the report
    TUSPY_VERSION = "unknown"

# Every request tuspy sends and the answer, for the test's assertions.
REQUESTS = []
_request = requests.Session.request


def _logged(self, method, url, *args, **kwargs):
    headers = {k.lower(): v for k, v in (kwargs.get("headers") or {}).items()}
    entry = {
        "method": method.upper(),
        "upload_offset": headers.get("upload-offset"),
        "upload_length": headers.get("upload-length"),
        "checksum": headers.get("upload-checksum"),
        "status": None,
        "answered_offset": None,
    }
    REQUESTS.append(entry)
    response = _request(self, method, url, *args, **kwargs)
    entry["status"] = response.status_code
    entry["answered_offset"] = response.headers.get("upload-offset")
    return response


requests.Session.request = _logged


def head_offset(url, headers):
    response = requests.head(url, headers=dict(headers, **{"Tus-Resumable": "1.0.0"}))
    if response.status_code != 200:
        raise RuntimeError(f"HEAD {url}: {response.status_code} {response.text}")
    return int(response.headers["upload-offset"])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--file", required=True)
    parser.add_argument("--metadata", default="{}")
    parser.add_argument("--chunk-size", type=int, default=None)
    parser.add_argument("--abort-after", type=int, default=None)
    parser.add_argument("--checksum", action="store_true", help="send Upload-Checksum (sha1)")
    args = parser.parse_args()
    token = os.environ.get("MB_TUS_TOKEN")
    if not token:
        print("MB_TUS_TOKEN is not set", file=sys.stderr)
        sys.exit(2)

    headers = {"Authorization": f"Bearer {token}"}
    tus = client.TusClient(args.endpoint, headers=headers)
    size = os.path.getsize(args.file)
    metadata = json.loads(args.metadata)
    chunk = {"chunk_size": args.chunk_size} if args.chunk_size else {}

    first = tus.uploader(
        args.file, metadata=metadata, retries=2, retry_delay=0.2, upload_checksum=args.checksum, **chunk
    )
    resumed_from = 0
    server_offset = None
    if args.abort_after is None:
        first.upload()
        url = first.url
    else:
        while first.offset < args.abort_after:
            first.upload_chunk()
        url = first.url
        del first
        server_offset = head_offset(url, headers)
        print(f"stopped {url} at {server_offset} of {size} bytes; resuming", file=sys.stderr)
        # A new uploader for the same URL asks the server's offset (HEAD).
        second = tus.uploader(
            args.file, url=url, retries=2, retry_delay=0.2, upload_checksum=args.checksum, **chunk
        )
        resumed_from = second.offset
        second.upload()

    last = REQUESTS[-1] if REQUESTS else {}
    answered = last.get("answered_offset")
    print(
        json.dumps(
            {
                "client": f"tuspy {TUSPY_VERSION}",
                "url": url,
                "bytes": size,
                "final_offset": int(answered) if answered is not None else None,
                "head_offset": server_offset,
                "resumed_from": resumed_from,
                "requests": REQUESTS,
            }
        )
    )


if __name__ == "__main__":
    try:
        main()
    except Exception as error:  # noqa: BLE001 - report and fail
        traceback.print_exc()
        detail = getattr(error, "response_content", None)
        if detail:
            print(f"last response body: {detail!r}", file=sys.stderr)
        print(f"requests: {json.dumps(REQUESTS)}", file=sys.stderr)
        print(f"tuspy failed: {error}", file=sys.stderr)
        sys.exit(1)
