-- Admin search is a substring search over usernames and emails
-- (`lower(username) LIKE '%…%' OR email LIKE '%…%'`). At millions of accounts
-- a scan takes seconds; trigram indexes (pg_trgm) answer it in milliseconds.
-- Where the extension cannot be created (no privilege, a managed PostgreSQL
-- without it), the migration still succeeds with a warning in the server log,
-- and search scans as before: ask an administrator for
-- `CREATE EXTENSION pg_trgm` and run `portcullis migrate` again after
-- re-running this file by hand, or create the indexes yourself.
DO $$
BEGIN
    CREATE EXTENSION IF NOT EXISTS pg_trgm;
EXCEPTION WHEN insufficient_privilege OR undefined_file OR feature_not_supported THEN
    RAISE WARNING 'pg_trgm is not available (%): admin search will scan the users table', SQLERRM;
END
$$;

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
        CREATE INDEX IF NOT EXISTS users_username_trgm_idx ON users USING gin (lower(username) gin_trgm_ops);
        CREATE INDEX IF NOT EXISTS users_email_trgm_idx ON users USING gin (email gin_trgm_ops);
    END IF;
END
$$;

-- The dashboard's counts of disabled accounts and of accounts with a second
-- factor: small partial indexes, so that neither scans every account.
CREATE INDEX users_disabled_idx ON users (created_at) WHERE disabled;
CREATE INDEX users_second_factor_idx ON users (created_at) WHERE totp_enabled OR passkey_count > 0;
