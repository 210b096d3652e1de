DROP TABLE sync_reviews;
DROP TABLE sync_tombstones;
DROP TABLE sync_records;
DROP TABLE tasks;
DROP TABLE sync_scopes;
DROP TABLE sync_refusals;
DROP TABLE sync_devices;
