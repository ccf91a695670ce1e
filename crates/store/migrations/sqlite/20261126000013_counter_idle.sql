-- Throttle counters idle for 30 days are purged by the janitor (every unknown identifier and
-- every source address of a password spray leaves one), a batch at a time, by this index.
CREATE INDEX throttle_counters_idle ON throttle_counters (last_failure_at);
