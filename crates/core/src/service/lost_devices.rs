//! Lost 2FA devices (RECOVER-5): a customer who just gave the right password but has no device
//! left asks for 2FA to be switched off, with identity documents that support reviews.
//!
//! The request is bound to the browser that made it (the hash of a random secret kept in a
//! cookie), so its id alone opens nothing. Documents are JPEG, PNG or PDF by their content (not
//! their name), at most 10 MB and 3 per request; each is encrypted with XChaCha20-Poly1305 under
//! its own random key, and that key is sealed under the server key: the database alone can't read
//! them. The request counts once the customer confirms it from a link mailed to the primary and
//! backup addresses; the documents go when it is decided, replaced, or 30 days old.

use super::recovery::{Recovery, RecoveryError};
use crate::audit::{Actor, AuditEvent, AuditKind, ClientInfo};
use crate::mail::{LinkPurpose, MailKind, Notice};
use crate::ports::StoreError;
use crate::recovery::{RecoveryRequest, RequestStatus, RequestStep, StoredDocument};
use crate::types::new_id;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;
use zeroize::Zeroizing;

pub const MAX_DOCUMENTS: i64 = 3;
/// The documents are deleted after this, whatever happened to the request.
const REQUEST_TTL: Duration = Duration::days(30);
pub(super) const CONFIRM_PURPOSE: &str = "recovery-confirm";
const CONFIRM_TTL: Duration = Duration::hours(24);
const KEY_PURPOSE: &str = "recovery-document-key";

/// What the customer sees of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestView {
    pub id: Uuid,
    pub status: RequestStatus,
    pub documents: i64,
    pub created_at: OffsetDateTime,
}

/// The content type of a document, from its first bytes; `None` for anything else.
pub fn document_type(bytes: &[u8]) -> Option<&'static str> {
    match infer::get(bytes)?.mime_type() {
        "image/jpeg" => Some("image/jpeg"),
        "image/png" => Some("image/png"),
        "application/pdf" => Some("application/pdf"),
        _ => None,
    }
}

fn browser_hash(browser: &str) -> Vec<u8> {
    Sha256::digest(browser.as_bytes()).to_vec()
}

/// The associated data binding a ciphertext to its request and document.
fn aad(document: &StoredDocument) -> String {
    format!("{}:{}", document.request_id, document.id)
}

impl Recovery {
    /// RECOVER-5: starts a request from the second step of a login (the password was right).
    /// `browser` is the random secret the edge keeps in this browser's cookie. An unfinished
    /// earlier request of the account is replaced; one waiting for support blocks a new one.
    pub async fn start_lost_devices_request(
        &self,
        flow: Uuid,
        browser: &str,
        client: &ClientInfo,
    ) -> Result<Uuid, RecoveryError> {
        let account = self.login.second_step_account(flow).await?;
        let now = self.base.clock.now();
        let request = RecoveryRequest {
            id: new_id(now),
            account_id: account.id,
            browser_hash: browser_hash(browser),
            status: RequestStatus::Draft,
            created_at: now,
            updated_at: now,
            expires_at: now + REQUEST_TTL,
            decided_at: None,
            reason: None,
            proposed_by: None,
            ticket: None,
        };
        match self.ports.create_recovery_request(&request).await {
            Err(StoreError::Conflict(_)) => return Err(RecoveryError::RequestOpen),
            other => other?,
        }
        let mut audit = AuditEvent::new(now, AuditKind::RecoveryRequested, Actor::Customer, client).account(account.id);
        audit.detail = Some("started".into());
        self.ports.record(&audit).await?;
        Ok(request.id)
    }

    /// The request, if this browser made it.
    async fn own_request(&self, id: Uuid, browser: &str) -> Result<RecoveryRequest, RecoveryError> {
        let request = self
            .ports
            .recovery_request(id)
            .await?
            .ok_or(RecoveryError::RequestNotFound)?;
        if !bool::from(request.browser_hash.ct_eq(&browser_hash(browser))) {
            return Err(RecoveryError::RequestNotFound);
        }
        Ok(request)
    }

    /// RECOVER-5: adds one identity document to a draft request.
    pub async fn add_document(&self, id: Uuid, browser: &str, bytes: &[u8]) -> Result<(), RecoveryError> {
        let request = self.own_request(id, browser).await?;
        if request.status != RequestStatus::Draft {
            return Err(RecoveryError::WrongStep);
        }
        if bytes.len() > self.base.settings.limits.document_max_bytes {
            return Err(RecoveryError::DocumentTooLarge);
        }
        let content_type = document_type(bytes).ok_or(RecoveryError::DocumentType)?;
        let now = self.base.clock.now();
        let mut document = StoredDocument {
            id: new_id(now),
            request_id: id,
            content_type: content_type.into(),
            size: i64::try_from(bytes.len()).unwrap_or(i64::MAX),
            sealed_key: String::new(),
            ciphertext: Vec::new(),
            created_at: now,
        };
        let mut key = Zeroizing::new([0u8; 32]);
        self.base.rng.fill(key.as_mut());
        let mut nonce = [0u8; 24];
        self.base.rng.fill(&mut nonce);
        let cipher = chacha20poly1305::XChaCha20Poly1305::new_from_slice(key.as_ref())
            .map_err(|e| StoreError::Internal(e.to_string()))?;
        let aad = aad(&document);
        let sealed = cipher
            .encrypt(
                (&nonce).into(),
                Payload {
                    msg: bytes,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|e| StoreError::Internal(e.to_string()))?;
        document.ciphertext = [nonce.as_slice(), sealed.as_slice()].concat();
        document.sealed_key = self
            .base
            .key
            .seal(KEY_PURPOSE, key.as_ref(), self.base.rng.as_ref())
            .map_err(|e| StoreError::Internal(e.to_string()))?;
        if !self.ports.add_document(&document, MAX_DOCUMENTS).await? {
            return Err(match self.own_request(id, browser).await?.status {
                RequestStatus::Draft => RecoveryError::DocumentLimit,
                _ => RecoveryError::WrongStep,
            });
        }
        Ok(())
    }

    /// Decrypts a stored document (for support's review screen), in memory only.
    pub fn open_document(&self, document: &StoredDocument) -> Result<Zeroizing<Vec<u8>>, RecoveryError> {
        let broken = || RecoveryError::Store(StoreError::Internal("a document could not be decrypted".into()));
        let key = self
            .base
            .key
            .open(KEY_PURPOSE, &document.sealed_key)
            .map_err(|_| broken())?;
        let cipher = chacha20poly1305::XChaCha20Poly1305::new_from_slice(&key).map_err(|_| broken())?;
        if document.ciphertext.len() < 24 {
            return Err(broken());
        }
        let (nonce, body) = document.ciphertext.split_at(24);
        let aad = aad(document);
        cipher
            .decrypt(
                nonce.into(),
                Payload {
                    msg: body,
                    aad: aad.as_bytes(),
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| broken())
    }

    /// RECOVER-5: sends the request; a link mailed to the account's addresses confirms it.
    pub async fn submit_request(&self, id: Uuid, browser: &str, client: &ClientInfo) -> Result<(), RecoveryError> {
        let request = self.own_request(id, browser).await?;
        if request.status != RequestStatus::Draft {
            return Err(RecoveryError::WrongStep);
        }
        if self.ports.document_count(id).await? == 0 {
            return Err(RecoveryError::NoDocuments);
        }
        let account = self
            .ports
            .find_account(request.account_id)
            .await?
            .ok_or(RecoveryError::RequestNotFound)?;
        // Whoever has the password could start and submit requests in a loop: each mails the owner.
        self.code_limit(account.id).await?;
        let (mut secret, token) = self.link_secret(&account, CONFIRM_PURPOSE, CONFIRM_TTL);
        secret.flow_id = Some(id);
        let kind = MailKind::AccountLink {
            purpose: LinkPurpose::RecoveryConfirm,
            url: format!(
                "{}recovery/confirm?token={}",
                self.base.settings.public_url,
                token.expose()
            ),
        };
        let mut mails = vec![self.base.compose_for(&account, kind.clone(), Some(secret.expires_at))?];
        if let Some(backup) = &account.backup_email {
            let mut to_backup = account.clone();
            to_backup.email = backup.clone();
            mails.push(self.base.compose_for(&to_backup, kind, Some(secret.expires_at))?);
        }
        let now = self.base.clock.now();
        let mut audit = AuditEvent::new(now, AuditKind::RecoveryRequested, Actor::Customer, client).account(account.id);
        audit.detail = Some("submitted".into());
        if !self
            .ports
            .advance_recovery_request(&RequestStep {
                id,
                from: RequestStatus::Draft,
                to: RequestStatus::AwaitingConfirmation,
                now,
                secrets: &[secret],
                reason: None,
                expires_at: None,
                audit: &audit,
                mails: &mails,
            })
            .await?
        {
            return Err(RecoveryError::WrongStep);
        }
        self.base.mail_queued();
        Ok(())
    }

    /// RECOVER-5: the mailed link confirms the request, which then waits for support.
    pub async fn confirm_request(&self, token: &str, client: &ClientInfo) -> Result<(), RecoveryError> {
        let now = self.base.clock.now();
        let hashes = self.base.key.hmacs(CONFIRM_PURPOSE, token.trim().as_bytes());
        let secret = crate::factor::consume_any(self.ports.as_ref(), CONFIRM_PURPOSE, &hashes, now)
            .await?
            .ok_or(RecoveryError::LinkInvalid)?;
        let (Some(id), Some(account)) = (secret.flow_id, secret.account_id) else {
            return Err(RecoveryError::LinkInvalid);
        };
        let account = self
            .ports
            .find_account(account)
            .await?
            .ok_or(RecoveryError::LinkInvalid)?;
        let mut audit = AuditEvent::new(now, AuditKind::RecoveryRequested, Actor::Customer, client).account(account.id);
        audit.detail = Some("confirmed".into());
        let mail = self.notice(&account, Notice::RecoveryRequestReceived, &audit).await?;
        if !self
            .ports
            .advance_recovery_request(&RequestStep {
                id,
                from: RequestStatus::AwaitingConfirmation,
                to: RequestStatus::PendingReview,
                now,
                secrets: &[],
                reason: None,
                // Support gets the whole time from now, however long the draft took.
                expires_at: Some(now + REQUEST_TTL),
                audit: &audit,
                mails: &[mail],
            })
            .await?
        {
            return Err(RecoveryError::LinkInvalid);
        }
        self.base.mail_queued();
        Ok(())
    }

    /// Where a request stands, for the browser that made it.
    pub async fn request_status(&self, id: Uuid, browser: &str) -> Result<RequestView, RecoveryError> {
        let request = self.own_request(id, browser).await?;
        Ok(RequestView {
            id,
            status: request.status,
            documents: self.ports.document_count(id).await?,
            created_at: request.created_at,
        })
    }

    /// The janitor's step: requests past their 30 days (from the confirmation, for one waiting
    /// for support) end and their documents are deleted.
    pub async fn expire_requests(&self) -> Result<u64, RecoveryError> {
        let now = self.base.clock.now();
        // A request its owner confirmed and support never decided: the owner is told, on the
        // record (RECOVER-5's answer comes by email, AUDIT-1), before its documents go.
        let lapsed = self.ports.expired_reviews(now, PURGE_BATCH).await?;
        for request in &lapsed {
            let Some(account) = self.ports.find_account(request.account_id).await? else {
                continue;
            };
            let mut audit = AuditEvent::new(
                now,
                AuditKind::RecoveryRequested,
                Actor::Operator,
                &ClientInfo::default(),
            )
            .account(account.id);
            audit.detail = Some("expired".into());
            let mail = self.notice(&account, Notice::RecoveryRequestExpired, &audit).await?;
            self.ports
                .advance_recovery_request(&RequestStep {
                    id: request.id,
                    from: RequestStatus::PendingReview,
                    to: RequestStatus::Cancelled,
                    now,
                    secrets: &[],
                    reason: Some("expired"),
                    expires_at: None,
                    audit: &audit,
                    mails: &[mail],
                })
                .await?;
        }
        if !lapsed.is_empty() {
            self.base.mail_queued();
        }
        Ok(self.ports.expire_recovery_requests(now).await?)
    }

    /// Deletes one-time secrets a day after they expired, a batch at a time (every login
    /// notification leaves one; a day's margin keeps them for the limits that count recent
    /// codes). Returns how many went.
    pub async fn purge_expired_secrets(&self) -> Result<u64, RecoveryError> {
        let before = self.base.clock.now() - time::Duration::days(1);
        Ok(self.ports.purge_expired_secrets(before, PURGE_BATCH).await?)
    }
}

/// Secrets deleted per janitor pass at most.
const PURGE_BATCH: u32 = 5_000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_are_recognised_by_their_content() {
        assert_eq!(document_type(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"), Some("image/png"));
        assert_eq!(document_type(b"\xff\xd8\xff\xe0\0\x10JFIF\0"), Some("image/jpeg"));
        assert_eq!(document_type(b"%PDF-1.7\n%\xe2\xe3"), Some("application/pdf"));
        assert_eq!(document_type(b"MZ\x90\0\x03\0\0\0\x04\0"), None, "a Windows executable");
        assert_eq!(document_type(b"GIF89a\x01\0\x01\0"), None, "a GIF is not accepted");
        assert_eq!(document_type(b""), None);
    }
}
