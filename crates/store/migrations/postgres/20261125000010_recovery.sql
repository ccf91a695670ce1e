-- RECOVER-3, RECOVER-6: the verified backup email (only a verified address is ever stored here),
-- and whether the customer must give a new one before anything else (after support promoted the
-- old one to primary).
ALTER TABLE accounts ADD COLUMN backup_email TEXT;
ALTER TABLE accounts ADD COLUMN backup_email_canonical TEXT;
ALTER TABLE accounts ADD COLUMN backup_email_required BIGINT NOT NULL DEFAULT 0;
CREATE INDEX accounts_backup_email ON accounts (backup_email_canonical);

-- RECOVER-3, RECOVER-4: an address being proved by its code before it becomes the backup or the
-- primary email. A primary change whose current address can't be reached waits until applies_at,
-- cancellable meanwhile; the codes and the cancel link are one-time secrets bound to the row id.
CREATE TABLE email_changes (
    id                TEXT PRIMARY KEY,
    account_id        TEXT NOT NULL REFERENCES accounts (id),
    target            TEXT NOT NULL,
    email             TEXT NOT NULL,
    email_canonical   TEXT NOT NULL,
    current_reachable BIGINT NOT NULL,
    attempts          BIGINT NOT NULL DEFAULT 0,
    created_at        BIGINT NOT NULL,
    expires_at        BIGINT NOT NULL,
    applies_at        BIGINT,
    completed_at      BIGINT,
    cancelled_at      BIGINT
);
CREATE INDEX email_changes_account ON email_changes (account_id, target);
CREATE INDEX email_changes_due ON email_changes (applies_at);

-- RECOVER-5: a request to switch 2FA off after the devices were lost, bound to the browser of the
-- login flow that proved the password; at most one open request per account.
CREATE TABLE recovery_requests (
    id           TEXT PRIMARY KEY,
    account_id   TEXT NOT NULL REFERENCES accounts (id),
    browser_hash BYTEA NOT NULL,
    status       TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    decided_at   BIGINT,
    reason       TEXT
);
CREATE UNIQUE INDEX recovery_requests_one_open ON recovery_requests (account_id)
    WHERE status IN ('draft', 'awaiting_confirmation', 'pending_review');
CREATE INDEX recovery_requests_expiry ON recovery_requests (expires_at);

-- RECOVER-5: identity documents, each encrypted (XChaCha20-Poly1305) under its own random key,
-- which is kept sealed under the server key; deleted when the request is decided or expires.
CREATE TABLE recovery_documents (
    id           TEXT PRIMARY KEY,
    request_id   TEXT NOT NULL REFERENCES recovery_requests (id),
    content_type TEXT NOT NULL,
    size         BIGINT NOT NULL,
    sealed_key   TEXT NOT NULL,
    ciphertext   BYTEA NOT NULL,
    created_at   BIGINT NOT NULL
);
CREATE INDEX recovery_documents_request ON recovery_documents (request_id);
