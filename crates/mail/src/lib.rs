//! Sesame's mail (MAIL-1, MAIL-2): the [`Composer`] renders each mail in text and HTML, in the
//! customer's language, carrying the NIC handle and the subsidiary's branding and support phone;
//! the [`worker::Worker`] delivers the outbox over SMTP (lettre) or, with no SMTP configured, into
//! `.eml` files for development.

pub mod compose;
pub mod transport;
pub mod worker;

pub use compose::{Composer, ComposerSettings};
pub use transport::{Transport, TransportError};
pub use worker::{Worker, WorkerSettings};
