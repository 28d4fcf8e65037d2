-- Whether the account's address is proven to be its owner's. Accounts from
-- before this migration have proven nothing yet.
ALTER TABLE users ADD COLUMN email_verified BOOLEAN NOT NULL DEFAULT 0;

-- Tokens sent by mail (password reset, email verification, email change),
-- kept only as the SHA-256 of the token; single use.
CREATE TABLE mail_tokens (
    token_hash TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose TEXT NOT NULL,
    new_email TEXT,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP
);
CREATE INDEX mail_tokens_user_idx ON mail_tokens (user_id, purpose);

-- Mail to send, written in the transaction of the change that causes it and
-- deleted (body and all) once delivered. lease_until keeps two nodes from
-- sending one message at the same moment.
CREATE TABLE mail_outbox (
    id TEXT PRIMARY KEY NOT NULL,
    recipient TEXT NOT NULL,
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    body_text TEXT NOT NULL,
    body_html TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    next_attempt_at TIMESTAMP NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    lease_until TIMESTAMP,
    lease_owner TEXT
);
CREATE INDEX mail_outbox_due_idx ON mail_outbox (next_attempt_at);
-- The last message of a kind to an address, for MAIL_MIN_INTERVAL.
CREATE TABLE mail_sent (
    recipient TEXT NOT NULL,
    kind TEXT NOT NULL,
    last_at TIMESTAMP NOT NULL,
    PRIMARY KEY (recipient, kind)
);
