DROP INDEX IF EXISTS users_second_factor_idx;
DROP INDEX IF EXISTS users_disabled_idx;
DROP INDEX IF EXISTS users_email_trgm_idx;
DROP INDEX IF EXISTS users_username_trgm_idx;
