DROP TRIGGER IF EXISTS users_search_delete;
DROP TRIGGER IF EXISTS users_search_update;
DROP TRIGGER IF EXISTS users_search_insert;
DROP TABLE IF EXISTS users_search;
DROP INDEX IF EXISTS users_search_row_key;
ALTER TABLE users DROP COLUMN search_row;
