DROP TABLE station_records;
