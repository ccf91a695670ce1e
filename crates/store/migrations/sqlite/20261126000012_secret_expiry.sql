-- Expired one-time secrets are purged by the janitor a day after they expire (a table that only
-- grows would grow with every login notification's "not you?" link).
CREATE INDEX one_time_secrets_expiry ON one_time_secrets (expires_at);
