-- What an account's second factors are, kept on the account row so that
-- every read of an account (/me on each request above all) stays one query.
-- They change only in the transactions that change the factors themselves.
ALTER TABLE users ADD COLUMN totp_enabled BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE users ADD COLUMN recovery_codes_left INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN passkey_count INTEGER NOT NULL DEFAULT 0;

-- The authentication methods (RFC 8176 amr values, comma-separated) a
-- session was opened with; its access tokens carry them, refresh keeps them.
ALTER TABLE sessions ADD COLUMN amr TEXT NOT NULL DEFAULT 'pwd';

-- One TOTP secret per account, sealed with AES-256-GCM under the data
-- encryption key. Pending until confirmed_at is set. last_used_step is the
-- last time step a code was accepted for: a code is accepted once.
CREATE TABLE totp_credentials (
    user_id TEXT PRIMARY KEY NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    secret_sealed TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    confirmed_at TIMESTAMP,
    last_used_step BIGINT
);

-- Single-use recovery codes, kept only as hashes; a used code is deleted.
CREATE TABLE recovery_codes (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash TEXT NOT NULL,
    PRIMARY KEY (user_id, code_hash)
);

-- A login waiting for its second factor: the hash of the mfa_token handed to
-- the client after the right password, with what the finished login needs.
CREATE TABLE mfa_challenges (
    token_hash TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    remember BOOLEAN NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
CREATE INDEX mfa_challenges_user_idx ON mfa_challenges (user_id);
