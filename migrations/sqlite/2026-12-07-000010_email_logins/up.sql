-- A sign-in by email between its two requests, so that any node finishes what
-- another began: the SHA-256 of the link's token, the address, the account
-- (none: an account to create on success, with EMAIL_LOGIN_SIGNUP=on), the
-- SHA-256 of the 6-digit code keyed by the link's hash, and the tries at the
-- code. Finishing deletes the row: the link and the code are used once.
CREATE TABLE email_logins (
    token_hash TEXT PRIMARY KEY NOT NULL,
    email TEXT NOT NULL,
    user_id TEXT REFERENCES users (id) ON DELETE CASCADE,
    code_hash TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
CREATE INDEX email_logins_email_idx ON email_logins (email, created_at);
CREATE INDEX email_logins_expiry_idx ON email_logins (expires_at);

-- How a login waiting for its second factor began (`pwd` or `email`), for
-- the `amr` of the session it opens.
ALTER TABLE mfa_challenges ADD COLUMN first_factor TEXT NOT NULL DEFAULT 'pwd';
