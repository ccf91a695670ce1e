-- RISK-1: the networks (an IPv4 /24, an IPv6 /48) each account logged in from, and when last; a
-- login from one not seen in 90 days is a signal of an unusual login.
CREATE TABLE login_networks (
    account_id   TEXT NOT NULL REFERENCES accounts (id),
    network      TEXT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    PRIMARY KEY (account_id, network)
);
