-- An account's one-time secrets by purpose: the backup codes left (the security page, each
-- backup code used) and the links voided when the primary address changes were found by scanning
-- every account's secrets of that purpose.
CREATE INDEX one_time_secrets_account ON one_time_secrets (account_id, purpose);
