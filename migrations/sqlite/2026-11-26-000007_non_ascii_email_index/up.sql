-- Every start looks for addresses stored in a form an older version allowed
-- (a character outside printable ASCII; see normalise_stored_emails). Without
-- an index that is a scan of every account on every start, inside the
-- node's turn to write. This partial index holds only such rows. The
-- predicate must stay exactly the query's (db::users::with_non_ascii_email).
CREATE INDEX users_non_ascii_email_idx ON users (id) WHERE email GLOB '*[^ -~]*';
