-- Logistics: relay stations and labs as data, each parcel's route from the
-- volunteer's order to the lab's result, the stations' scans, exceptions,
-- and the tamper-evident custody log.

-- A relay station: parcels arrive there under a recipient code, are
-- relabelled with a blind sample code and forwarded to a lab.
CREATE TABLE stations (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL UNIQUE,
    -- The region whose volunteers send their parcels here.
    region TEXT NOT NULL,
    -- The postal address volunteers order to, one line per line.
    address TEXT NOT NULL,
    active BOOLEAN NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX stations_region ON stations (region);

CREATE TABLE station_operators (
    station_id TEXT NOT NULL REFERENCES stations (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id),
    PRIMARY KEY (station_id, user_id)
);
CREATE INDEX station_operators_user ON station_operators (user_id);

-- A testing lab.
CREATE TABLE labs (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL UNIQUE,
    region TEXT NOT NULL,
    address TEXT NOT NULL,
    active BOOLEAN NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE lab_inspectors (
    lab_id TEXT NOT NULL REFERENCES labs (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id),
    PRIMARY KEY (lab_id, user_id)
);
CREATE INDEX lab_inspectors_user ON lab_inspectors (user_id);

-- One parcel per accepted task: where it goes, under which codes, and how
-- far it got. The volunteer's identity is never here: the station and the
-- lab reach a parcel only through this row's codes.
CREATE TABLE parcels (
    task_id TEXT PRIMARY KEY NOT NULL,
    campaign_id TEXT NOT NULL,
    -- The generation of the task this routing was made for (a reassigned
    -- task gets a new code and perhaps another station).
    generation INTEGER NOT NULL,
    recipient_code TEXT NOT NULL UNIQUE,
    station_id TEXT NOT NULL REFERENCES stations (id),
    lab_id TEXT REFERENCES labs (id),
    category_id TEXT NOT NULL,
    -- The incoming carrier and tracking number (normalised) the volunteer
    -- recorded, once synced.
    carrier TEXT,
    tracking TEXT,
    -- awaiting, at_station, forwarded, at_lab, tested, published
    stage TEXT NOT NULL,
    -- intact or damaged, from the arrival scan.
    condition TEXT,
    -- Whether the campaign asks for a witnessed opening and sealing, and
    -- the witness's name once done.
    witness_required BOOLEAN NOT NULL,
    witness TEXT,
    sealed_at BIGINT,
    sample_code TEXT UNIQUE,
    out_carrier TEXT,
    out_tracking TEXT,
    shipped_at BIGINT,
    received_at BIGINT,
    forwarded_at BIGINT,
    lab_received_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX parcels_station ON parcels (station_id, stage);
CREATE INDEX parcels_tracking ON parcels (tracking);
CREATE INDEX parcels_lab ON parcels (lab_id, stage);
CREATE INDEX parcels_campaign ON parcels (campaign_id);

-- A scan at a station: insert-only, keyed by the id the scanning device
-- made, so the same scan twice is one scan. `task_id` stays NULL while no
-- parcel matches the code; the matching tracking number arriving later
-- fills it.
CREATE TABLE scans (
    id TEXT PRIMARY KEY NOT NULL,
    station_id TEXT NOT NULL REFERENCES stations (id),
    operator_id TEXT NOT NULL REFERENCES users (id),
    -- The scanned or typed code, normalised; `code_kind` says which it is.
    code TEXT NOT NULL,
    code_kind TEXT NOT NULL CHECK (code_kind IN ('recipient_code', 'tracking')),
    condition TEXT NOT NULL CHECK (condition IN ('intact', 'damaged')),
    note TEXT NOT NULL,
    -- Evidence ids of photos of the parcel (uploaded through tus).
    photos TEXT NOT NULL,
    -- When the device says it scanned (offline scans are ordered by it),
    -- and when the server learnt of it.
    scanned_at BIGINT NOT NULL,
    received_at BIGINT NOT NULL,
    task_id TEXT,
    matched_at BIGINT
);
CREATE INDEX scans_unmatched ON scans (code, task_id);
CREATE INDEX scans_station ON scans (station_id, received_at);

-- What the lab found.
CREATE TABLE lab_results (
    sample_code TEXT PRIMARY KEY NOT NULL,
    task_id TEXT NOT NULL UNIQUE REFERENCES parcels (task_id),
    lab_id TEXT NOT NULL REFERENCES labs (id),
    verdict TEXT NOT NULL CHECK (verdict IN ('qualified', 'unqualified')),
    -- JSON array of the failed test items.
    failed_items TEXT NOT NULL,
    standard TEXT NOT NULL,
    notes TEXT NOT NULL,
    report_sha256 TEXT,
    report_media_type TEXT,
    recorded_by TEXT NOT NULL REFERENCES users (id),
    recorded_at BIGINT NOT NULL,
    published_by TEXT REFERENCES users (id),
    published_at BIGINT
);

-- Something went wrong with a parcel. Visible to coordinators; resolved by
-- one.
CREATE TABLE parcel_exceptions (
    id TEXT PRIMARY KEY NOT NULL,
    task_id TEXT NOT NULL REFERENCES parcels (task_id),
    kind TEXT NOT NULL CHECK (kind IN ('damaged', 'wrong_item', 'never_arrived', 'returned', 'lost')),
    note TEXT NOT NULL,
    -- 'station', 'lab', 'coordinator' or 'server' (a deadline passed).
    reported_by_role TEXT NOT NULL,
    reported_by TEXT,
    reported_at BIGINT NOT NULL,
    resolved_at BIGINT,
    resolution TEXT
);
CREATE INDEX parcel_exceptions_task ON parcel_exceptions (task_id);
CREATE UNIQUE INDEX parcel_exceptions_open ON parcel_exceptions (task_id, kind, reported_by_role)
    WHERE resolved_at IS NULL;

-- The tamper-evident custody log: each entry carries the hash of the one
-- before (crate custody-log). Appended in the same transaction as its
-- event; `custody_head` is the one row every appender locks, so entries
-- are numbered densely in commit order.
CREATE TABLE custody_entries (
    seq BIGINT PRIMARY KEY NOT NULL,
    at BIGINT NOT NULL,
    kind TEXT NOT NULL,
    task_id TEXT NOT NULL,
    sample_code TEXT,
    data TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX custody_entries_task ON custody_entries (task_id, seq);
CREATE INDEX custody_entries_sample ON custody_entries (sample_code, seq);

CREATE TABLE custody_head (
    id INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO custody_head (id, seq, hash) VALUES (1, 0, '');

-- Signed checkpoints: the log's size, Merkle root and head hash, signed
-- with the Ed25519 key from configuration.
CREATE TABLE custody_checkpoints (
    tree_size BIGINT PRIMARY KEY NOT NULL,
    root TEXT NOT NULL,
    head TEXT NOT NULL,
    at BIGINT NOT NULL,
    key_id TEXT NOT NULL,
    signature TEXT NOT NULL
);

-- What a campaign asks of the route: the parcel opened and the sample
-- sealed in front of a witness at the station, and what the lab tests.
ALTER TABLE campaigns ADD COLUMN witnessed_opening BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE campaigns ADD COLUMN test_plan TEXT NOT NULL DEFAULT '';
