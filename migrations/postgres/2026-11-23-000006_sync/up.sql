-- Offline sync: the devices that sync, the per-scope version counters that
-- make pull cursors safe, tasks, the synced records themselves, the
-- tombstones that tell a device a record left its scope, and the review
-- list of conflicts a coordinator must look at.

-- One app install that syncs. `node` goes into every stamp the device makes;
-- `last_processed` is the highest mutation number applied or refused, written
-- in the same transaction as the mutation's effects.
CREATE TABLE sync_devices (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    node TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    last_processed BIGINT NOT NULL,
    -- JSON of the device's last corrected stamp (its next one orders after).
    last_stamp TEXT,
    created_at BIGINT NOT NULL,
    last_push_at BIGINT
);
CREATE INDEX sync_devices_user ON sync_devices (user_id);

-- The answers to mutations that were refused or held, so a re-sent one
-- (its first answer lost) is answered the same way again, not "duplicate".
CREATE TABLE sync_refusals (
    device_id TEXT NOT NULL REFERENCES sync_devices (id) ON DELETE CASCADE,
    seq BIGINT NOT NULL,
    held BOOLEAN NOT NULL,
    code TEXT NOT NULL,
    message TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (device_id, seq)
);

-- The version counter of each sync scope ("volunteer:<user id>"). Every
-- write into a scope bumps it under this row's lock, so within a scope
-- versions commit in order and a cursor never passes an uncommitted change.
-- `pruned_below`: tombstones up to this version were deleted (after
-- `sync_tombstone_days`); a cursor older than it is outdated and reset.
CREATE TABLE sync_scopes (
    scope TEXT PRIMARY KEY NOT NULL,
    version BIGINT NOT NULL,
    pruned_below BIGINT NOT NULL DEFAULT 0
);

-- A buying task. The volunteer's view of it is its sync_records row
-- (kind 'task'); these columns are what the server queries and checks.
CREATE TABLE tasks (
    id TEXT PRIMARY KEY NOT NULL,
    assignee_id TEXT REFERENCES users (id),
    generation INTEGER NOT NULL,
    status TEXT NOT NULL,
    created_by TEXT REFERENCES users (id),
    deadline_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX tasks_assignee ON tasks (assignee_id, status);

-- Every synced record, as the device receives it (`doc`, the JSON of
-- sync_protocol::Record). `scope` is NULL when no device may see it (a
-- purchase held for review); `version` is the scope's version at its last
-- change.
CREATE TABLE sync_records (
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    task_id TEXT NOT NULL REFERENCES tasks (id),
    author_id TEXT REFERENCES users (id),
    scope TEXT,
    version BIGINT NOT NULL,
    doc TEXT NOT NULL,
    -- Evidence: "<task id>:<sha256>", so one file is one record per task.
    dedupe_key TEXT,
    withdrawn BOOLEAN NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (kind, id)
);
CREATE UNIQUE INDEX sync_records_dedupe ON sync_records (kind, dedupe_key);
CREATE INDEX sync_records_scope ON sync_records (scope, version);
CREATE INDEX sync_records_task ON sync_records (task_id);

-- "This record left your scope": a remove in the scope's version order.
CREATE TABLE sync_tombstones (
    scope TEXT NOT NULL,
    version BIGINT NOT NULL,
    kind TEXT NOT NULL,
    record_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (scope, version)
);

-- Conflicts the merge settled but a person must see.
CREATE TABLE sync_reviews (
    id TEXT PRIMARY KEY NOT NULL,
    reason TEXT NOT NULL,
    task_id TEXT NOT NULL REFERENCES tasks (id),
    record_kind TEXT,
    record_id TEXT,
    -- JSON: what the coordinator needs to decide (values, stamps, who).
    details TEXT NOT NULL,
    -- One review per cause, however often the cause is met again.
    dedupe_key TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    resolved_at BIGINT,
    resolved_by TEXT REFERENCES users (id),
    resolution TEXT
);
CREATE INDEX sync_reviews_open ON sync_reviews (resolved_at, created_at);
