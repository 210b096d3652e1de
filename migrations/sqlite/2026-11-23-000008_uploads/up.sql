-- Resumable (tus 1.0) uploads of evidence files. The offset, the running
-- SHA-256, the parts, the bytes not yet a whole part and the lock all live
-- here, so the next PATCH of an upload may land on any server instance.
CREATE TABLE uploads (
    id TEXT PRIMARY KEY NOT NULL,
    owner_id TEXT NOT NULL REFERENCES users (id),
    -- The evidence record this file fills (it may arrive by sync later).
    evidence_id TEXT NOT NULL,
    -- The Upload-Metadata header as the client sent it (HEAD echoes it).
    metadata TEXT NOT NULL,
    -- NULL while the client defers the length.
    upload_length BIGINT,
    upload_offset BIGINT NOT NULL,
    -- receiving, complete, finished, refused, terminated, expired
    state TEXT NOT NULL,
    -- The S3 multipart upload gathering the bytes at `uploads/<id>/data`
    -- (the filesystem store appends to that file instead).
    multipart_id TEXT,
    -- The serialised SHA-256 state over bytes 0..upload_offset.
    hash_state TEXT NOT NULL,
    -- The whole file's SHA-256, once complete.
    sha256 TEXT,
    -- A lease: the instance writing a PATCH holds it until lock_until.
    lock_token TEXT,
    lock_until BIGINT,
    expires_at BIGINT NOT NULL,
    -- Why the finished file was refused: JSON {code, status, detail}.
    refusal TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX uploads_owner ON uploads (owner_id, state);
CREATE INDEX uploads_evidence ON uploads (evidence_id);
CREATE INDEX uploads_expiry ON uploads (state, expires_at);

-- The S3 parts of an upload (at least 5 MiB each but the last).
CREATE TABLE upload_parts (
    upload_id TEXT NOT NULL REFERENCES uploads (id) ON DELETE CASCADE,
    number INTEGER NOT NULL,
    size BIGINT NOT NULL,
    etag TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    PRIMARY KEY (upload_id, number)
);

-- Bytes received but not yet a whole part: small objects beside the
-- upload, in offset order, joined into the next part.
CREATE TABLE upload_pieces (
    upload_id TEXT NOT NULL REFERENCES uploads (id) ON DELETE CASCADE,
    start_offset BIGINT NOT NULL,
    size BIGINT NOT NULL,
    storage_key TEXT NOT NULL,
    PRIMARY KEY (upload_id, start_offset)
);

-- The verified file of an evidence record: the served copy (metadata
-- removed), its thumbnail and perceptual hash, and the original's hash
-- (the original itself only when configured, in a restricted prefix).
CREATE TABLE evidence_files (
    evidence_id TEXT PRIMARY KEY NOT NULL,
    task_id TEXT NOT NULL REFERENCES tasks (id),
    upload_id TEXT NOT NULL REFERENCES uploads (id),
    original_sha256 TEXT NOT NULL,
    original_key TEXT,
    served_sha256 TEXT NOT NULL,
    served_media_type TEXT NOT NULL,
    served_size BIGINT NOT NULL,
    thumbnail_sha256 TEXT,
    perceptual_hash BIGINT,
    width INTEGER,
    height INTEGER,
    created_at BIGINT NOT NULL
);
CREATE INDEX evidence_files_task ON evidence_files (task_id);
