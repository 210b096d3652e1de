-- Content-addressed objects in the blob store, one row per distinct content.
CREATE TABLE blobs (
    sha256 TEXT PRIMARY KEY NOT NULL,
    size BIGINT NOT NULL,
    media_type TEXT,
    storage_key TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- Every S3 multipart upload is written here before it is created, so that
-- a job can abort the ones a crash left behind (the S3 client we use cannot
-- list them).
CREATE TABLE multipart_uploads (
    id TEXT PRIMARY KEY NOT NULL,
    object_key TEXT NOT NULL,
    upload_id TEXT,
    purpose TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX multipart_uploads_updated ON multipart_uploads (updated_at);
