// @generated automatically by Diesel CLI.

diesel::table! {
    auth_events (id) {
        id -> Text,
        occurred_at -> Timestamp,
        event_type -> Text,
        user_id -> Nullable<Text>,
        actor_id -> Nullable<Text>,
        ip -> Nullable<Text>,
        user_agent -> Nullable<Text>,
        detail -> Text,
    }
}

diesel::table! {
    email_logins (token_hash) {
        token_hash -> Text,
        email -> Text,
        user_id -> Nullable<Text>,
        code_hash -> Text,
        attempts -> Integer,
        created_at -> Timestamp,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    identities (id) {
        id -> Text,
        user_id -> Text,
        provider -> Text,
        subject -> Text,
        email -> Nullable<Text>,
        created_at -> Timestamp,
        last_login_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    link_tickets (ticket_hash) {
        ticket_hash -> Text,
        user_id -> Text,
        provider -> Text,
        redirect_to -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    locks (name) {
        name -> Text,
        version -> BigInt,
    }
}

diesel::table! {
    mfa_challenges (token_hash) {
        token_hash -> Text,
        user_id -> Text,
        remember -> Bool,
        attempts -> Integer,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        first_factor -> Text,
    }
}

diesel::table! {
    login_codes (code_hash) {
        code_hash -> Text,
        user_id -> Text,
        provider -> Text,
        code_challenge -> Nullable<Text>,
        remember -> Bool,
        created_at -> Timestamp,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    oauth_clients (id) {
        id -> Text,
        name -> Text,
        client_type -> Text,
        secret_hash -> Nullable<Text>,
        redirect_uris -> Text,
        post_logout_redirect_uris -> Text,
        grant_types -> Text,
        scopes -> Text,
        first_party -> Bool,
        id_token_signed_response_alg -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    oauth_codes (code_hash) {
        code_hash -> Text,
        client_id -> Text,
        user_id -> Text,
        redirect_uri -> Text,
        scope -> Text,
        nonce -> Nullable<Text>,
        code_challenge -> Nullable<Text>,
        auth_time -> Timestamp,
        amr -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        grant_id -> Nullable<Text>,
    }
}

diesel::table! {
    oauth_consents (user_id, client_id) {
        user_id -> Text,
        client_id -> Text,
        scope -> Text,
        granted_at -> Timestamp,
    }
}

diesel::table! {
    oauth_grants (id) {
        id -> Text,
        client_id -> Text,
        user_id -> Text,
        scope -> Text,
        refresh_jti -> Nullable<Text>,
        previous_refresh_jti -> Nullable<Text>,
        rotated_at -> Nullable<Timestamp>,
        auth_time -> Timestamp,
        amr -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    oauth_requests (id_hash) {
        id_hash -> Text,
        client_id -> Text,
        redirect_uri -> Text,
        scope -> Text,
        state -> Nullable<Text>,
        nonce -> Nullable<Text>,
        code_challenge -> Nullable<Text>,
        prompt -> Nullable<Text>,
        max_age -> Nullable<BigInt>,
        created_at -> Timestamp,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    oauth_sso (token_hash) {
        token_hash -> Text,
        session_id -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    passkeys (id) {
        id -> Text,
        user_id -> Text,
        credential_id -> Text,
        name -> Text,
        credential_sealed -> Text,
        sign_count -> BigInt,
        created_at -> Timestamp,
        last_used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    provider_attempts (state_hash) {
        state_hash -> Text,
        provider -> Text,
        browser_hash -> Text,
        sealed_secrets -> Text,
        redirect_to -> Text,
        code_challenge -> Nullable<Text>,
        remember -> Bool,
        link_user_id -> Nullable<Text>,
        created_at -> Timestamp,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    recovery_codes (user_id, code_hash) {
        user_id -> Text,
        code_hash -> Text,
    }
}

diesel::table! {
    totp_credentials (user_id) {
        user_id -> Text,
        secret_sealed -> Text,
        created_at -> Timestamp,
        confirmed_at -> Nullable<Timestamp>,
        last_used_step -> Nullable<BigInt>,
    }
}

diesel::table! {
    mail_outbox (id) {
        id -> Text,
        recipient -> Text,
        kind -> Text,
        subject -> Text,
        body_text -> Text,
        body_html -> Text,
        created_at -> Timestamp,
        next_attempt_at -> Timestamp,
        attempts -> Integer,
        last_error -> Nullable<Text>,
        lease_until -> Nullable<Timestamp>,
        lease_owner -> Nullable<Text>,
    }
}

diesel::table! {
    mail_sent (recipient, kind) {
        recipient -> Text,
        kind -> Text,
        last_at -> Timestamp,
    }
}

diesel::table! {
    mail_tokens (token_hash) {
        token_hash -> Text,
        user_id -> Text,
        purpose -> Text,
        new_email -> Nullable<Text>,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    sessions (id) {
        id -> Text,
        user_id -> Text,
        refresh_jti -> Text,
        previous_refresh_jti -> Nullable<Text>,
        rotated_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        last_used_at -> Timestamp,
        expires_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
        user_agent -> Nullable<Text>,
        ip -> Nullable<Text>,
        amr -> Text,
        refresh_count -> Integer,
        last_ip -> Nullable<Text>,
        last_user_agent -> Nullable<Text>,
    }
}

diesel::table! {
    webauthn_ceremonies (id_hash) {
        id_hash -> Text,
        purpose -> Text,
        user_id -> Nullable<Text>,
        state_sealed -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    users (id) {
        id -> Text,
        username -> Text,
        email -> Text,
        password_hash -> Text,
        role -> Text,
        disabled -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        last_login_at -> Nullable<Timestamp>,
        email_verified -> Bool,
        totp_enabled -> Bool,
        recovery_codes_left -> Integer,
        passkey_count -> Integer,
        has_password -> Bool,
    }
}

diesel::joinable!(email_logins -> users (user_id));
diesel::joinable!(identities -> users (user_id));
diesel::joinable!(link_tickets -> users (user_id));
diesel::joinable!(login_codes -> users (user_id));
diesel::joinable!(mail_tokens -> users (user_id));
diesel::joinable!(mfa_challenges -> users (user_id));
diesel::joinable!(oauth_codes -> oauth_clients (client_id));
diesel::joinable!(oauth_codes -> users (user_id));
diesel::joinable!(oauth_consents -> oauth_clients (client_id));
diesel::joinable!(oauth_consents -> users (user_id));
diesel::joinable!(oauth_grants -> oauth_clients (client_id));
diesel::joinable!(oauth_grants -> users (user_id));
diesel::joinable!(oauth_requests -> oauth_clients (client_id));
diesel::joinable!(oauth_sso -> sessions (session_id));
diesel::joinable!(passkeys -> users (user_id));
diesel::joinable!(provider_attempts -> users (link_user_id));
diesel::joinable!(recovery_codes -> users (user_id));
diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(totp_credentials -> users (user_id));
diesel::joinable!(webauthn_ceremonies -> users (user_id));

diesel::allow_tables_to_appear_in_same_query!(
    auth_events,
    email_logins,
    identities,
    link_tickets,
    locks,
    login_codes,
    mail_outbox,
    mail_sent,
    mail_tokens,
    mfa_challenges,
    oauth_clients,
    oauth_codes,
    oauth_consents,
    oauth_grants,
    oauth_requests,
    oauth_sso,
    passkeys,
    provider_attempts,
    recovery_codes,
    sessions,
    totp_credentials,
    users,
    webauthn_ceremonies,
);
