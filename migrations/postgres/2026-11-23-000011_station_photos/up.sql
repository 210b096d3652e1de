-- Photos a relay station takes of a parcel on arrival, through the same
-- tus upload path and media pipeline as volunteers' evidence (metadata
-- `photo_id` instead of `evidence_id`): the served copy has no metadata
-- (no location), and a thumbnail is made.
ALTER TABLE uploads ADD COLUMN purpose TEXT NOT NULL DEFAULT 'evidence'
    CHECK (purpose IN ('evidence', 'station_photo'));

-- A station photo whose file arrived and passed the pipeline. The id is
-- the one the station's device made and named in its scan; the file may
-- come before or after the scan.
CREATE TABLE station_photos (
    id TEXT PRIMARY KEY NOT NULL,
    owner_id TEXT NOT NULL REFERENCES users (id),
    upload_id TEXT NOT NULL REFERENCES uploads (id),
    original_sha256 TEXT NOT NULL,
    original_key TEXT,
    served_sha256 TEXT NOT NULL,
    served_media_type TEXT NOT NULL,
    served_size BIGINT NOT NULL,
    thumbnail_sha256 TEXT,
    created_at BIGINT NOT NULL
);

-- Which scan names which photo (a scan's `photos`, searchable from the
-- photo's side: a photo finished after its scan was matched is logged then).
CREATE TABLE scan_photos (
    scan_id TEXT NOT NULL REFERENCES scans (id),
    photo_id TEXT NOT NULL,
    PRIMARY KEY (scan_id, photo_id)
);
CREATE INDEX scan_photos_photo ON scan_photos (photo_id);
