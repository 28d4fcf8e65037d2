DROP TABLE locks;
DROP TABLE sessions;
DROP TABLE users;
