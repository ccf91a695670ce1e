-- RISK-3: each account's IP restriction, one JSON document replaced whole when saved.
CREATE TABLE ip_rules (
    account_id TEXT PRIMARY KEY REFERENCES accounts (id),
    rules      TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
