-- AUDIT-1: the browser an event came from, as the SHA-256 of its device id (hex); events written
-- before this column have none.
ALTER TABLE audit_events ADD COLUMN device TEXT;
