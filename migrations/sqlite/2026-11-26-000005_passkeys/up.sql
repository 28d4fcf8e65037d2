-- Passkeys (WebAuthn credentials). The credential itself (public key,
-- signature counter, flags, as webauthn-rs stores it) is sealed with
-- AES-256-GCM under the data encryption key and bound to its account.
-- credential_id is the authenticator's id for it (base64url): public, unique
-- across accounts, and how a usernameless login finds its passkey.
-- sign_count is the highest signature counter seen, kept in the clear so that
-- a login can move it forward with a conditional write: of two answers from
-- a cloned authenticator with one counter value, only one gets in.
CREATE TABLE passkeys (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    credential_id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    credential_sealed TEXT NOT NULL,
    sign_count BIGINT NOT NULL DEFAULT 0,
    created_at TIMESTAMP NOT NULL,
    last_used_at TIMESTAMP
);
CREATE INDEX passkeys_user_idx ON passkeys (user_id);

-- A WebAuthn ceremony between its two requests, so that any node can finish
-- what another began: the hash of the ceremony_id handed to the client, the
-- account (registration, login by identifier; none for usernameless login
-- and for identifiers without passkeys) and webauthn-rs's state, sealed.
-- Finishing deletes the row: a ceremony is used once.
CREATE TABLE webauthn_ceremonies (
    id_hash TEXT PRIMARY KEY NOT NULL,
    purpose TEXT NOT NULL,
    user_id TEXT REFERENCES users (id) ON DELETE CASCADE,
    state_sealed TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
CREATE INDEX webauthn_ceremonies_expiry_idx ON webauthn_ceremonies (expires_at);
