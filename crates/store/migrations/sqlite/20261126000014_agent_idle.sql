-- SUPPORT-1, ASVS V3.3.2: an agent session also ends after 30 minutes without a request; when it
-- was last used (written at most once a minute). Sessions made before this read as used when
-- they began.
ALTER TABLE agent_sessions ADD COLUMN last_seen_at BIGINT;
