-- Admin search on SQLite through an FTS5 trigram index (a substring
-- `LIKE '%…%'` can use no ordinary index: it was a scan of every account,
-- about 0.35 s per million). The index finds the accounts whose username or
-- email contains the term's three-character sequences in a row; the term is
-- then checked on those rows exactly as before (db::users), so results are
-- unchanged.
--
-- The index is contentless: it stores no copy of the text, only which rows
-- hold each trigram. Its rows are numbered by `users.search_row`, a number of
-- our own rather than the table's rowid: VACUUM may renumber the rowids of a
-- table without an INTEGER PRIMARY KEY, and the index would then point at
-- other accounts. Triggers keep the index in step with every insert, change
-- of username or email, and delete, whoever makes it.
--
-- On an existing database this reads every account once, holding the write
-- lock meanwhile: 77 s for ten million accounts (bench/RESULTS.md), and the
-- database grew from 4.3 to 5.7 GB.
ALTER TABLE users ADD COLUMN search_row INTEGER;
UPDATE users SET search_row = rowid;
CREATE UNIQUE INDEX users_search_row_key ON users (search_row);

CREATE VIRTUAL TABLE users_search USING fts5 (
    text,
    tokenize = 'trigram',
    content = '',
    contentless_delete = 1
);
INSERT INTO users_search (rowid, text)
SELECT search_row, lower(username) || char(10) || email FROM users;

-- MAX + 1 rather than the new rowid: after a VACUUM has renumbered rows, a
-- new rowid may be a number an older account already has here.
CREATE TRIGGER users_search_insert AFTER INSERT ON users
BEGIN
    UPDATE users SET search_row = (SELECT COALESCE(MAX(search_row), 0) + 1 FROM users)
    WHERE rowid = new.rowid;
    INSERT INTO users_search (rowid, text)
    SELECT search_row, lower(new.username) || char(10) || new.email FROM users WHERE rowid = new.rowid;
END;

CREATE TRIGGER users_search_update AFTER UPDATE OF username, email ON users
BEGIN
    DELETE FROM users_search WHERE rowid = old.search_row;
    INSERT INTO users_search (rowid, text)
    VALUES (new.search_row, lower(new.username) || char(10) || new.email);
END;

CREATE TRIGGER users_search_delete AFTER DELETE ON users
BEGIN
    DELETE FROM users_search WHERE rowid = old.search_row;
END;
