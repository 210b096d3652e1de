-- Passkeys, sign-in ceremonies, invitations, recovery links, device
-- sessions, the audit log and rate-limit counters. Every token is stored as
-- its SHA-256 only.

CREATE TABLE passkeys (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- base64url of the credential id, to find the passkey an assertion used.
    credential_id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    -- webauthn-rs's Passkey as JSON (public key, counter, backup flags).
    passkey TEXT NOT NULL,
    counter BIGINT NOT NULL,
    backup_state BOOLEAN NOT NULL,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT
);
CREATE INDEX passkeys_user ON passkeys (user_id);

-- The state between a ceremony's start and finish: consumed once (deleted
-- by the finish), so the finish may land on any instance and a replay fails.
CREATE TABLE webauthn_ceremonies (
    id TEXT PRIMARY KEY NOT NULL,
    purpose TEXT NOT NULL CHECK (purpose IN ('invitation', 'recovery', 'add_passkey', 'sign_in')),
    user_id TEXT NOT NULL,
    -- The invitation or recovery link the ceremony redeems.
    grant_id TEXT,
    state TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX webauthn_ceremonies_expiry ON webauthn_ceremonies (expires_at);

-- An invitation redeems an invited user (created with the invitation, so
-- the role is fixed by the inviter and a volunteer's address sits in the
-- personal-data table from the start).
CREATE TABLE invitations (
    id TEXT PRIMARY KEY NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    invited_by TEXT REFERENCES users (id),
    expires_at BIGINT NOT NULL,
    accepted_at BIGINT,
    created_at BIGINT NOT NULL
);
CREATE INDEX invitations_user ON invitations (user_id);

CREATE TABLE recovery_links (
    id TEXT PRIMARY KEY NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at BIGINT NOT NULL,
    used_at BIGINT,
    created_at BIGINT NOT NULL
);

-- One signed-in device: an app (access + rotating refresh tokens) or a
-- browser (a cookie and a CSRF token).
CREATE TABLE device_sessions (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    passkey_id TEXT,
    kind TEXT NOT NULL CHECK (kind IN ('app', 'browser')),
    device_name TEXT NOT NULL,
    access_hash TEXT UNIQUE,
    access_expires_at BIGINT,
    csrf_hash TEXT,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT,
    revoked_reason TEXT
);
CREATE INDEX device_sessions_user ON device_sessions (user_id);

-- Every refresh token a session was given. A used one names its successor;
-- presenting it again after the grace window revokes the whole session.
CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY NOT NULL,
    session_id TEXT NOT NULL REFERENCES device_sessions (id) ON DELETE CASCADE,
    issued_at BIGINT NOT NULL,
    used_at BIGINT,
    successor_hash TEXT
);
CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);

-- Who did what, when. Append-only.
CREATE TABLE audit_log (
    id TEXT PRIMARY KEY NOT NULL,
    at BIGINT NOT NULL,
    actor_user_id TEXT,
    action TEXT NOT NULL,
    subject_type TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX audit_log_subject ON audit_log (subject_type, subject_id);

-- Fixed-window counters shared by all instances.
CREATE TABLE rate_limits (
    bucket TEXT NOT NULL,
    window_start BIGINT NOT NULL,
    hits INTEGER NOT NULL,
    PRIMARY KEY (bucket, window_start)
);

-- Keys the instances share, created on first start.
CREATE TABLE server_secrets (
    name TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
