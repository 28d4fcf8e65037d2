DROP INDEX IF EXISTS users_email_trgm_idx;
DROP INDEX IF EXISTS users_username_trgm_idx;
