//! Sesame's engine: everything that decides, nothing that talks HTTP or SQL.
//!
//! `web` turns a request into a call on a [`service::Services`] method; the service reads and writes
//! through the [`ports`] that `store` implements, with the clock and randomness passed in
//! ([`clock`], [`random`]) so that tests can move time and nothing here calls the system clock.

pub mod audit;
pub mod clock;
pub mod factor;
#[cfg(test)]
mod fixtures;
pub mod flow;
pub mod ip_rules;
pub mod keys;
pub mod limits;
pub mod mail;
pub mod ports;
pub mod random;
pub mod recovery;
pub mod service;
pub mod sms;
pub mod support;
pub mod throttle;
pub mod token;
pub mod types;
