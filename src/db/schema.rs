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
    locks (name) {
        name -> Text,
        version -> BigInt,
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
    }
}

diesel::joinable!(mail_tokens -> users (user_id));
diesel::joinable!(sessions -> users (user_id));

diesel::allow_tables_to_appear_in_same_query!(
    auth_events,
    locks,
    mail_outbox,
    mail_sent,
    mail_tokens,
    sessions,
    users,
);
