-- Accounts made by a provider or a mailed link have no password anyone knows
-- (a random one is hashed, so that a password login answers as for a wrong
-- password); this says whether the owner ever chose one, which decides
-- whether unlinking their last provider would lock them out.
ALTER TABLE users ADD COLUMN has_password BOOLEAN NOT NULL DEFAULT TRUE;

-- An account's identities at other providers: (provider, subject) names one
-- person there, and belongs to at most one account here.
CREATE TABLE identities (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider TEXT NOT NULL,
    subject TEXT NOT NULL,
    -- The address the provider gave when the identity was linked (shown to
    -- the owner; never used to find an account).
    email TEXT,
    created_at TIMESTAMP NOT NULL,
    last_login_at TIMESTAMP
);
CREATE UNIQUE INDEX identities_provider_subject_idx ON identities (provider, subject);
CREATE INDEX identities_user_idx ON identities (user_id);

-- A sign-in at a provider between the start and the callback, so that any
-- node finishes what another began: the SHA-256 of the state, the SHA-256 of
-- the browser-binding cookie, the nonce and the PKCE verifier towards the
-- provider (sealed), where to come back to, the app's own PKCE challenge,
-- and, for linking, the account the identity is for. The callback deletes
-- the row: a state is used once.
CREATE TABLE provider_attempts (
    state_hash TEXT PRIMARY KEY NOT NULL,
    provider TEXT NOT NULL,
    browser_hash TEXT NOT NULL,
    sealed_secrets TEXT NOT NULL,
    redirect_to TEXT NOT NULL,
    code_challenge TEXT,
    remember BOOLEAN NOT NULL,
    link_user_id TEXT REFERENCES users (id) ON DELETE CASCADE,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
CREATE INDEX provider_attempts_expiry_idx ON provider_attempts (expires_at);

-- A Portcullis login code handed to the app after a provider's callback:
-- its SHA-256, the account, the app's PKCE challenge, 60 s, used once.
CREATE TABLE login_codes (
    code_hash TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider TEXT NOT NULL,
    code_challenge TEXT,
    remember BOOLEAN NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
CREATE INDEX login_codes_expiry_idx ON login_codes (expires_at);

-- Linking an identity from a logged-in session: `POST /me/identities/{id}`
-- hands out a ticket (its SHA-256 here, single use, 600 s) that the browser
-- takes to the start of the provider's sign-in, so that the attempt is bound
-- to the browser that will come back from the provider, as for a login.
CREATE TABLE link_tickets (
    ticket_hash TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider TEXT NOT NULL,
    redirect_to TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
CREATE INDEX link_tickets_expiry_idx ON link_tickets (expires_at);
