-- MFA-6: what proved the second factor of a session's last authentication (a device id or
-- 'backup_code'), so a lost device can be removed after a proof from another one.
ALTER TABLE sessions ADD COLUMN second_factor TEXT;

-- MFA-3/MFA-6: a sealed challenge for one device (a security key's removal), taken once.
ALTER TABLE credentials ADD COLUMN challenge TEXT;
