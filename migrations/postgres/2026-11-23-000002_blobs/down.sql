DROP TABLE multipart_uploads;
DROP TABLE blobs;
