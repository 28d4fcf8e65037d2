-- The audit trail. user_id and actor_id are plain values, not foreign keys:
-- a deleted account's history stays.
CREATE TABLE auth_events (
    id TEXT PRIMARY KEY NOT NULL,
    occurred_at TIMESTAMP NOT NULL,
    event_type TEXT NOT NULL,
    user_id TEXT,
    actor_id TEXT,
    ip TEXT,
    user_agent TEXT,
    detail TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX auth_events_occurred_at_idx ON auth_events (occurred_at DESC, id DESC);
CREATE INDEX auth_events_user_idx ON auth_events (user_id, occurred_at DESC);
CREATE INDEX auth_events_type_idx ON auth_events (event_type, occurred_at DESC);
