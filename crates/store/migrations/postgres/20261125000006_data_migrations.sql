-- One-off data changes that SQL can't express (they need the engine's code), each run once at
-- start-up and recorded here: `canonical_emails_idna` recomputes stored email canonical forms.
CREATE TABLE data_migrations (
    name       TEXT PRIMARY KEY,
    applied_at BIGINT NOT NULL
);
