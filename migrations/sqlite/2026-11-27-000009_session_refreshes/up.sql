-- A successful refresh is no audit event: the session row keeps what it
-- would have said. `rotated_at` already holds the time of the latest refresh
-- (`last_refreshed_at` in the API); these add how many there were and the
-- client of the latest one. NULL until the session's first refresh after this
-- migration; existing sessions are kept as they are (a count of 0).
-- Adding a column with a constant default rewrites no row on either backend.
ALTER TABLE sessions ADD COLUMN refresh_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN last_ip TEXT;
ALTER TABLE sessions ADD COLUMN last_user_agent TEXT;
