-- LOGIN-2: the second factor used last, offered first at the next login.
ALTER TABLE accounts ADD COLUMN last_second_factor TEXT;

-- MFA-1: a second-factor credential counts once enabled (a TOTP app only after a valid code).
ALTER TABLE credentials ADD COLUMN enabled_at BIGINT;

-- MFA-2: the last TOTP time step accepted per account; a step is accepted once.
CREATE TABLE totp_steps (
    account_id TEXT PRIMARY KEY REFERENCES accounts (id),
    last_step  BIGINT NOT NULL
);
