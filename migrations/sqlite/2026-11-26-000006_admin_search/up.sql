-- PostgreSQL gets trigram indexes for admin search here. SQLite keeps the
-- substring scan (its LIKE '%…%' can use no index): about 0.4 s per million
-- accounts, measured in bench/RESULTS.md; docs/operations.md ("Scale") says
-- when to move to PostgreSQL.

-- The dashboard's counts of disabled accounts and of accounts with a second
-- factor: small partial indexes, so that neither scans every account.
CREATE INDEX users_disabled_idx ON users (created_at) WHERE disabled;
CREATE INDEX users_second_factor_idx ON users (created_at) WHERE totp_enabled OR passkey_count > 0;
