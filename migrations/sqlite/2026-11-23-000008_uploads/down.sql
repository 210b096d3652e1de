DROP TABLE evidence_files;
DROP TABLE upload_pieces;
DROP TABLE upload_parts;
DROP TABLE uploads;
