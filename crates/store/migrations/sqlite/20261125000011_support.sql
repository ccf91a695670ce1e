-- SUPPORT-1: support agents are not customers: their own table, password and security key, roles.
CREATE TABLE agents (
    id              TEXT PRIMARY KEY,
    email           TEXT NOT NULL,
    email_canonical TEXT NOT NULL UNIQUE,
    name            TEXT NOT NULL,
    role            TEXT NOT NULL,
    password_phc    TEXT,
    security_key    TEXT,
    created_at      BIGINT NOT NULL,
    enrolled_at     BIGINT,
    disabled_at     BIGINT
);

-- SUPPORT-1: agent sessions (only the token's SHA-256), 8 hours at most.
CREATE TABLE agent_sessions (
    id         TEXT PRIMARY KEY,
    agent_id   TEXT NOT NULL REFERENCES agents (id),
    token_hash BLOB NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    ended_at   BIGINT,
    ip         TEXT,
    user_agent TEXT
);
CREATE INDEX agent_sessions_agent ON agent_sessions (agent_id, ended_at);

-- SUPPORT-3: a lost-2FA approval needs two people: who proposed it, why, and the ticket.
ALTER TABLE recovery_requests ADD COLUMN proposed_by TEXT;
ALTER TABLE recovery_requests ADD COLUMN proposed_at BIGINT;
ALTER TABLE recovery_requests ADD COLUMN ticket TEXT;
