-- Ids are UUIDs kept as TEXT and timestamps are UTC TIMESTAMP so that one Diesel
-- schema serves both backends.
CREATE TABLE users (
    id TEXT PRIMARY KEY NOT NULL,
    username TEXT NOT NULL,
    email TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
    disabled BOOLEAN NOT NULL DEFAULT 0,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    last_login_at TIMESTAMP
);
-- Usernames are unique ignoring case; emails are stored lower-cased.
CREATE UNIQUE INDEX users_username_lower_key ON users (lower(username));
CREATE UNIQUE INDEX users_email_key ON users (email);
CREATE INDEX users_created_at_idx ON users (created_at DESC, id);
CREATE INDEX users_role_idx ON users (role, disabled);

-- One row per login. The session knows the id of its one current refresh token
-- (and the one before it, for the reuse grace window); tokens themselves are
-- never stored.
CREATE TABLE sessions (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    refresh_jti TEXT NOT NULL,
    previous_refresh_jti TEXT,
    rotated_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    last_used_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP,
    user_agent TEXT,
    ip TEXT
);
CREATE INDEX sessions_user_id_idx ON sessions (user_id);
CREATE INDEX sessions_expires_at_idx ON sessions (expires_at);

-- Changes that must not leave zero enabled admins (demote, disable, delete)
-- first update this row: a row lock on PostgreSQL and the write lock on SQLite
-- serialise them, so each sees the others' committed result.
CREATE TABLE locks (
    name TEXT PRIMARY KEY NOT NULL,
    version BIGINT NOT NULL
);
INSERT INTO locks (name, version) VALUES ('admins', 0);
