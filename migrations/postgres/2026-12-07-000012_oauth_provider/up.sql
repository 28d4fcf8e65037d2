-- Portcullis as an OpenID Provider (see `service::oauth`).

-- The apps that sign people in through Portcullis. Lists (redirect URIs,
-- grant types, scopes) are JSON arrays; a confidential client's secret is
-- kept as its SHA-256 (256 random bits need no slow hash).
CREATE TABLE oauth_clients (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    client_type TEXT NOT NULL,
    secret_hash TEXT,
    redirect_uris TEXT NOT NULL,
    post_logout_redirect_uris TEXT NOT NULL,
    grant_types TEXT NOT NULL,
    scopes TEXT NOT NULL,
    first_party BOOLEAN NOT NULL,
    id_token_signed_response_alg TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

-- An authorization request waiting for the login page (600 s): its id's
-- SHA-256 and everything the code it ends in will be bound to.
CREATE TABLE oauth_requests (
    id_hash TEXT PRIMARY KEY NOT NULL,
    client_id TEXT NOT NULL REFERENCES oauth_clients (id) ON DELETE CASCADE,
    redirect_uri TEXT NOT NULL,
    scope TEXT NOT NULL,
    state TEXT,
    nonce TEXT,
    code_challenge TEXT,
    prompt TEXT,
    max_age BIGINT,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
CREATE INDEX oauth_requests_expiry_idx ON oauth_requests (expires_at);

-- The grant an authorization ends in: a user's consent to one client for
-- some scopes, with the rotating refresh token's current and previous ids
-- (as sessions keep theirs). Revoking it ends every token it issued.
CREATE TABLE oauth_grants (
    id TEXT PRIMARY KEY NOT NULL,
    client_id TEXT NOT NULL REFERENCES oauth_clients (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    scope TEXT NOT NULL,
    refresh_jti TEXT,
    previous_refresh_jti TEXT,
    rotated_at TIMESTAMP,
    auth_time TIMESTAMP NOT NULL,
    amr TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP
);
CREATE INDEX oauth_grants_user_idx ON oauth_grants (user_id, client_id);
CREATE INDEX oauth_grants_client_idx ON oauth_grants (client_id);

-- Authorization codes (their SHA-256; 60 s): bound to the client, the
-- redirect URI and the PKCE challenge. A code is kept after its use, with
-- the grant it made, so that a second use revokes that grant.
CREATE TABLE oauth_codes (
    code_hash TEXT PRIMARY KEY NOT NULL,
    client_id TEXT NOT NULL REFERENCES oauth_clients (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    redirect_uri TEXT NOT NULL,
    scope TEXT NOT NULL,
    nonce TEXT,
    code_challenge TEXT,
    auth_time TIMESTAMP NOT NULL,
    amr TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    grant_id TEXT
);
CREATE INDEX oauth_codes_expiry_idx ON oauth_codes (expires_at);

-- What a user consented to, per client.
CREATE TABLE oauth_consents (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id TEXT NOT NULL REFERENCES oauth_clients (id) ON DELETE CASCADE,
    scope TEXT NOT NULL,
    granted_at TIMESTAMP NOT NULL,
    PRIMARY KEY (user_id, client_id)
);

-- The `portcullis_sso` cookie (its SHA-256): the browser's single sign-on,
-- tied to the session the login page opened; it ends with that session.
CREATE TABLE oauth_sso (
    token_hash TEXT PRIMARY KEY NOT NULL,
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX oauth_sso_session_idx ON oauth_sso (session_id);
