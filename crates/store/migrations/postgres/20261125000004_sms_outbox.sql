-- MFA-4: the SMS outbox, written in the same transaction as the code it carries and delivered to
-- the HTTP gateway by a worker, like mail (MAIL-1). `body` holds a code: it is cleared once the
-- text is sent or expired. A row is claimed with a lease (`claimed_by`, `claimed_until`).
CREATE TABLE sms_outbox (
    id              TEXT PRIMARY KEY,
    account_id      TEXT REFERENCES accounts (id),
    recipient       TEXT NOT NULL,
    body            TEXT,
    attempts        BIGINT NOT NULL DEFAULT 0,
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    claimed_by      TEXT,
    claimed_until   BIGINT,
    sent_at         BIGINT,
    parked_at       BIGINT,
    last_error      TEXT
);
CREATE INDEX sms_outbox_pending ON sms_outbox (sent_at, parked_at, next_attempt_at);
