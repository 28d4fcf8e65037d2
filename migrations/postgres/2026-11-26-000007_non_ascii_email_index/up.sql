-- Every start looks for addresses stored in a form an older version allowed
-- (a character outside printable ASCII; see normalise_stored_emails). Without
-- an index that is a scan of every account on every start: seconds of a
-- database core at ten million. This partial index holds only such rows, so
-- the check reads nothing when there are none. The predicate must stay
-- exactly the query's (db::users::with_non_ascii_email).
CREATE INDEX users_non_ascii_email_idx ON users (id) WHERE email ~ '[^ -~]';
