//! Sesame's integration tests: one binary, the real server on port 0 with a fresh database (SQLite
//! or PostgreSQL, after `SESAME_TEST_BACKEND`) and a clock the tests move.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod helpers;

mod accounts;
mod cli;
mod crash;
mod email_code;
mod errors;
mod flows;
mod import;
mod ip_restriction;
mod login;
mod mail;
mod nodes;
mod ops;
mod outage;
mod pages;
mod profile;
mod recovery;
mod security;
mod security_keys;
mod sessions;
mod signup;
mod sms;
mod sms_login;
mod smtp;
mod support;
mod throttle;
mod two_factor;
