-- Sesame's first schema (SQLite). Times are BIGINT microseconds since the Unix epoch and ids are
-- lowercase UUID v7 text, so both backends sort and compare them the same way.

-- ACCT-1: every NIC handle ever given out; rows are never deleted, so a handle is never reused.
CREATE TABLE nic_handles (
    handle      TEXT PRIMARY KEY,
    reserved_at BIGINT NOT NULL
);

CREATE TABLE accounts (
    id              TEXT PRIMARY KEY,
    nic_handle      TEXT NOT NULL UNIQUE REFERENCES nic_handles (handle),
    customer_code   TEXT NOT NULL UNIQUE,
    email           TEXT NOT NULL,
    email_canonical TEXT NOT NULL UNIQUE,
    first_name      TEXT NOT NULL,
    last_name       TEXT NOT NULL,
    account_type    TEXT NOT NULL,
    company_name    TEXT,
    phone           TEXT,
    country         TEXT NOT NULL,
    language        TEXT NOT NULL,
    currency        TEXT NOT NULL,
    subsidiary      TEXT NOT NULL,
    state           TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);

-- Every factor's credential: kind (password, totp, security_key, sms, backup_code), a data format
-- version and the data itself (a PHC string, an encrypted seed, a serialised passkey, ...).
CREATE TABLE credentials (
    id           TEXT PRIMARY KEY,
    account_id   TEXT NOT NULL REFERENCES accounts (id),
    kind         TEXT NOT NULL,
    version      BIGINT NOT NULL,
    data         TEXT NOT NULL,
    description  TEXT,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    last_used_at BIGINT
);
CREATE UNIQUE INDEX credentials_one_password ON credentials (account_id) WHERE kind = 'password';
CREATE INDEX credentials_account ON credentials (account_id, kind);

-- SESS-1: only the SHA-256 of a session token is stored.
CREATE TABLE sessions (
    id               TEXT PRIMARY KEY,
    account_id       TEXT NOT NULL REFERENCES accounts (id),
    token_hash       BLOB NOT NULL UNIQUE,
    created_at       BIGINT NOT NULL,
    last_seen_at     BIGINT NOT NULL,
    authenticated_at BIGINT NOT NULL,
    ip               TEXT,
    user_agent       TEXT,
    ended_at         BIGINT
);
CREATE INDEX sessions_account ON sessions (account_id, ended_at);

-- Multi-step flows (sign-up, login with a second factor, recovery) live here, never in a node's
-- memory, so any node can continue any flow.
CREATE TABLE flows (
    id           TEXT PRIMARY KEY,
    kind         TEXT NOT NULL,
    account_id   TEXT REFERENCES accounts (id),
    state        TEXT NOT NULL,
    attempts     BIGINT NOT NULL DEFAULT 0,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    completed_at BIGINT
);
CREATE INDEX flows_expiry ON flows (expires_at);

-- RISK-4: one-time secrets, stored as HMACs under the server key, consumed once.
CREATE TABLE one_time_secrets (
    id          TEXT PRIMARY KEY,
    purpose     TEXT NOT NULL,
    account_id  TEXT REFERENCES accounts (id),
    flow_id     TEXT,
    secret_hash BLOB NOT NULL,
    attempts    BIGINT NOT NULL DEFAULT 0,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT
);
CREATE UNIQUE INDEX one_time_secrets_hash ON one_time_secrets (purpose, secret_hash);

-- MAIL-1: every email is a row here, written with the change it reports.
CREATE TABLE outbox (
    id              TEXT PRIMARY KEY,
    account_id      TEXT REFERENCES accounts (id),
    message_id      TEXT NOT NULL,
    recipient       TEXT NOT NULL,
    template        TEXT NOT NULL,
    language        TEXT NOT NULL,
    subject         TEXT NOT NULL,
    body_text       TEXT,
    body_html       TEXT,
    sensitive       BIGINT NOT NULL DEFAULT 0,
    attempts        BIGINT NOT NULL DEFAULT 0,
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT,
    next_attempt_at BIGINT NOT NULL,
    claimed_by      TEXT,
    claimed_until   BIGINT,
    sent_at         BIGINT,
    parked_at       BIGINT,
    last_error      TEXT
);
CREATE INDEX outbox_pending ON outbox (sent_at, parked_at, next_attempt_at);

-- AUDIT-1: append-only; the store has no statement that updates or deletes a row.
CREATE TABLE audit_events (
    id         TEXT PRIMARY KEY,
    at         BIGINT NOT NULL,
    account_id TEXT,
    actor      TEXT NOT NULL,
    kind       TEXT NOT NULL,
    success    BIGINT NOT NULL,
    ip         TEXT,
    user_agent TEXT,
    detail     TEXT
);
CREATE INDEX audit_events_account ON audit_events (account_id, at);

-- RISK-2, MFA-7: failure counters per scope (ip, account, global) shared by every node.
CREATE TABLE throttle_counters (
    scope           TEXT NOT NULL,
    key             TEXT NOT NULL,
    failures        BIGINT NOT NULL DEFAULT 0,
    window_start    BIGINT NOT NULL,
    last_failure_at BIGINT NOT NULL,
    PRIMARY KEY (scope, key)
);
