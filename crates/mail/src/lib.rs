//! Sesame's mail (MAIL-1, MAIL-2): the [`Composer`] renders each mail in text and HTML, in the
//! customer's language, carrying the NIC handle and the subsidiary's branding and support phone;
//! the [`worker::Worker`] delivers the outbox over SMTP (lettre) or, with no SMTP configured, into
//! `.eml` files for development. The [`sms::SmsWorker`] delivers the SMS outbox (MFA-4) to an HTTP
//! gateway the same way.

pub mod compose;
pub mod sms;
pub mod transport;
pub mod worker;

pub use compose::{Composer, ComposerSettings};
pub use sms::{SmsTransport, SmsTransportError, SmsWorker};
pub use transport::{Transport, TransportError};
pub use worker::{Worker, WorkerSettings};
