DROP TABLE volunteer_personal_data;
DROP TABLE users;
