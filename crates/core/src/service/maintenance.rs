//! One-off data migrations that need the engine's code (SQL alone can't compute them), run once at
//! start-up and recorded so they never run twice.
//!
//! `canonical_emails_idna` (ACCT-3): emails used to compare by Unicode case folding of the whole
//! address, which merged domains that differ under IDNA (`straße.de` and `strasse.de`). Each stored
//! canonical form is recomputed from the stored address; when the new form belongs to another
//! account already, nothing is merged: the row keeps its old form and is reported for an operator.

use crate::ports::{MaintenanceStore, StoreError};
use crate::types::{AccountId, Email};
use time::OffsetDateTime;

const CANONICAL_EMAILS: &str = "canonical_emails_idna";
const BATCH: u32 = 500;

/// What a run changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EmailReport {
    /// Whether this run did the work (false: it was done before).
    pub ran: bool,
    pub updated: u64,
    /// Accounts whose new canonical email another account has: left as they were.
    pub collisions: Vec<AccountId>,
}

/// Recomputes stored canonical emails once (see the module documentation).
pub async fn canonical_emails(store: &dyn MaintenanceStore, now: OffsetDateTime) -> Result<EmailReport, StoreError> {
    let mut report = EmailReport::default();
    if store.data_migration_done(CANONICAL_EMAILS).await? {
        return Ok(report);
    }
    report.ran = true;
    let mut after = None;
    loop {
        let batch = store.emails_after(after, BATCH).await?;
        let Some(last) = batch.last() else { break };
        after = Some(last.account);
        for row in &batch {
            let Ok(email) = Email::parse(&row.address) else {
                continue;
            };
            if email.canonical() == row.canonical {
                continue;
            }
            match store.set_email_canonical(row.account, email.canonical()).await {
                Ok(()) => report.updated += 1,
                Err(StoreError::Conflict(_)) => report.collisions.push(row.account),
                Err(other) => return Err(other),
            }
        }
    }
    store.mark_data_migration(CANONICAL_EMAILS, now).await?;
    Ok(report)
}
