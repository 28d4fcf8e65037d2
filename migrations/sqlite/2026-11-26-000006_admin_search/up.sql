-- PostgreSQL gets trigram indexes for admin search here. SQLite keeps the
-- substring scan: its LIKE '%…%' can use no index, and an FTS5 trigram table
-- would double the write cost of every registration for a search that scans
-- about a million accounts a second anyway (docs/operations.md, "Scale").
-- The migration exists so both backends have the same list.
SELECT 1;
