-- RISK-2: browsers that logged in to an account before, by the SHA-256 of their device id. A
-- known device keeps working while the account is throttled for everyone else.
CREATE TABLE known_devices (
    account_id   TEXT NOT NULL REFERENCES accounts (id),
    device_hash  BLOB NOT NULL,
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    PRIMARY KEY (account_id, device_hash)
);
