-- SQLite's migration of this number gives it a full-text index for admin
-- search. PostgreSQL has had its trigram indexes since 000006; this one keeps
-- the two backends' migrations numbered alike and changes nothing.
SELECT 1;
