-- LOGIN-4: login notifications, on by default; the customer switches them in the control panel.
ALTER TABLE accounts ADD COLUMN login_notifications BIGINT NOT NULL DEFAULT 1;

-- Flows are updated with optimistic concurrency: an update names the version it read.
ALTER TABLE flows ADD COLUMN version BIGINT NOT NULL DEFAULT 0;

CREATE INDEX one_time_secrets_flow ON one_time_secrets (flow_id, purpose);
