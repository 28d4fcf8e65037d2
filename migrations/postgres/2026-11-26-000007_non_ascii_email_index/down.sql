DROP INDEX IF EXISTS users_non_ascii_email_idx;
