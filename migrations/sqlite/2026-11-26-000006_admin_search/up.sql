-- PostgreSQL gets trigram indexes for admin search here. SQLite keeps the
-- substring scan: its LIKE '%…%' can use no index, and an FTS5 trigram table
-- would double the write cost of every registration for a search that scans
-- about a million accounts a second anyway (docs/operations.md, "Scale").

-- The dashboard's counts of disabled accounts and of accounts with a second
-- factor: small partial indexes, so that neither scans every account.
CREATE INDEX users_disabled_idx ON users (created_at) WHERE disabled;
CREATE INDEX users_second_factor_idx ON users (created_at) WHERE totp_enabled OR passkey_count > 0;
