-- What relay stations' scanner apps sync: each station's scans and the
-- parcels on its shelf, as the station sees them (sync_protocol::Record of
-- kinds 'station_scan' and 'station_parcel'). Apart from sync_records
-- because these belong to a station, not to a task (a waiting scan has no
-- task), and so that no query over a task's records can ever carry one to
-- a volunteer's device.
-- Versions come from the scope's row in sync_scopes ("station:<id>"), bumped
-- under its lock; removes are sync_tombstones rows of that scope.
CREATE TABLE station_records (
    kind TEXT NOT NULL CHECK (kind IN ('station_scan', 'station_parcel')),
    -- A scan's device-made id; a parcel's recipient code.
    id TEXT NOT NULL,
    station_id TEXT NOT NULL REFERENCES stations (id),
    -- The parcel's task, for the server only (never in `doc`): how a change
    -- to a parcel finds its records. NULL for a scan still waiting.
    task_id TEXT REFERENCES tasks (id),
    -- NULL once the record left the station's scope (its parcel forwarded).
    scope TEXT,
    version BIGINT NOT NULL,
    doc TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (kind, id)
);
CREATE INDEX station_records_scope ON station_records (scope, version);
CREATE INDEX station_records_task ON station_records (task_id);
