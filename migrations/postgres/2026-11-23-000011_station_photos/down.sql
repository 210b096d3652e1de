DROP TABLE scan_photos;
DROP TABLE station_photos;
ALTER TABLE uploads DROP COLUMN purpose;
