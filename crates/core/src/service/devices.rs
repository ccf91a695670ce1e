//! Second-factor devices of every kind (MFA-1, MFA-5, MFA-6, SESS-3): enrol (begin, then confirm
//! with a proof from the device), rename, challenge and remove; backup codes. Every change needs
//! a fresh authentication, is audited and mailed. Nothing here knows how a kind works: that is
//! the factor's business.
//!
//! Removing a device needs a last proof from that very device, or, when it is lost, a session
//! whose last authentication used a *different* second factor. Removing the last device turns
//! 2FA off and deletes the backup codes. The first device enabled shows the backup codes once.

use super::login_flow::{CHALLENGE_PURPOSE, Login, TwoFactorError, valid_description};
use super::sessions::Authenticated;
use super::{Base, Factors};
use crate::audit::{Actor, AuditEvent, AuditKind, ClientInfo};
use crate::factor::{EnrolInput, EnrolPrompt, Method, Prompt, Proof, Scope, backup_code};
use crate::mail::Notice;
use crate::ports::{Account, CredentialStore, FactorCredential, OneTimeSecret, StoreError};
use crate::types::new_id;
use std::sync::Arc;
use time::OffsetDateTime;
use uuid::Uuid;

/// A device as the customer sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    pub id: Uuid,
    pub method: Method,
    pub description: String,
    pub created_at: OffsetDateTime,
    pub last_used_at: Option<OffsetDateTime>,
}

/// The security page's and the API's view of 2FA.
#[derive(Debug, Clone)]
pub struct TwoFactorSummary {
    /// On while any device is enrolled, whatever its kind.
    pub enabled: bool,
    /// Enabled devices, in the order methods are offered, then oldest first.
    pub devices: Vec<Device>,
    pub backup_codes_left: i64,
    /// MFA-5: few enough codes remain for the security page to warn.
    pub backup_codes_low: bool,
    /// MFA-3: security keys can be added (the public URL's host can be a relying party).
    pub security_keys_available: bool,
    /// MFA-4: SMS is offered in the account's subsidiary.
    pub sms_available: bool,
}

/// A device being enrolled: its id and what the customer is shown.
#[derive(Debug, Clone)]
pub struct DeviceStart {
    pub id: Uuid,
    pub prompt: EnrolPrompt,
}

fn device(c: &FactorCredential) -> Option<Device> {
    let method = Method::parse(&c.kind)?;
    c.enabled_at?;
    Some(Device {
        id: c.id,
        method,
        description: c.description.clone(),
        created_at: c.created_at,
        last_used_at: c.last_used_at,
    })
}

fn notice_added(method: Method, first: bool) -> Notice {
    if first {
        Notice::TwoFactorEnabled
    } else {
        Notice::DeviceAdded(method)
    }
}

/// MFA-1..6: second-factor devices and backup codes.
#[derive(Clone)]
pub struct Devices {
    base: Arc<Base>,
    ports: Arc<dyn CredentialStore>,
    factors: Factors,
    login: Login,
}

impl std::fmt::Debug for Devices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Devices").finish_non_exhaustive()
    }
}

/// MFA-5, MFA-6: a device change whose "first" or "last" turned twice while it was written (the
/// account's devices changing under it); the client may try again.
fn devices_kept_changing() -> TwoFactorError {
    StoreError::Unavailable("the account's devices kept changing".into()).into()
}

impl Devices {
    pub(super) fn new(base: Arc<Base>, ports: Arc<dyn CredentialStore>, factors: Factors, login: Login) -> Self {
        Self {
            base,
            ports,
            factors,
            login,
        }
    }

    pub async fn two_factor_summary(&self, account: &Account) -> Result<TwoFactorSummary, StoreError> {
        let mut devices: Vec<Device> = self
            .ports
            .credentials(account.id)
            .await?
            .iter()
            .filter_map(device)
            .collect();
        devices.sort_by_key(|d| (d.method, d.created_at));
        let backup_codes_left = self.ports.backup_codes_left(account.id, self.base.clock.now()).await?;
        let sms_available = self
            .factors
            .settings()
            .sms_subsidiaries
            .iter()
            .any(|s| s.eq_ignore_ascii_case(&account.subsidiary));
        let enabled = !devices.is_empty();
        Ok(TwoFactorSummary {
            enabled,
            devices,
            backup_codes_left,
            backup_codes_low: enabled && backup_codes_left <= self.base.settings.limits.backup_codes_warning,
            security_keys_available: self.factors.settings().webauthn.is_some(),
            sms_available,
        })
    }

    async fn own_device(&self, account: &Account, id: Uuid) -> Result<FactorCredential, TwoFactorError> {
        self.ports
            .credentials(account.id)
            .await?
            .into_iter()
            .find(|c| c.id == id && Method::parse(&c.kind).is_some_and(Method::is_device))
            .ok_or(TwoFactorError::NotFound)
    }

    /// Starts enrolling a device of `method`; it counts only once a proof from it confirms it.
    pub async fn device_begin(
        &self,
        auth: &Authenticated,
        method: Method,
        description: &str,
        phone: Option<&str>,
    ) -> Result<DeviceStart, TwoFactorError> {
        self.login.require_fresh(auth)?;
        if !method.is_device() {
            return Err(TwoFactorError::MethodUnavailable);
        }
        let input = EnrolInput {
            id: new_id(self.base.clock.now()),
            description: valid_description(description)?,
            phone: phone.map(str::to_owned),
        };
        let owned = self.factors.load(&auth.account).await?;
        let ctx = self.factors.ctx(&auth.account, &owned);
        let enrolment = self.factors.get(method)?.enrol(&ctx, &input).await?;
        let cred = FactorCredential {
            id: input.id,
            account_id: auth.account.id,
            kind: method.as_str().into(),
            version: 1,
            data: enrolment.data,
            description: input.description,
            created_at: self.base.clock.now(),
            enabled_at: None,
            last_used_at: None,
        };
        let audit = self.change_audit(auth, &format!("{}_pending", method.as_str()));
        self.ports.add_credential(&cred, &audit).await?;
        if matches!(enrolment.shown, EnrolPrompt::Sms { .. }) {
            self.base.sms_queued();
        }
        Ok(DeviceStart {
            id: cred.id,
            prompt: enrolment.shown,
        })
    }

    /// What a pending device shows again (an app's QR code after a wrong code).
    pub async fn device_pending(&self, auth: &Authenticated, id: Uuid) -> Result<DeviceStart, TwoFactorError> {
        let cred = self.own_device(&auth.account, id).await?;
        if cred.enabled_at.is_some() {
            return Err(TwoFactorError::NotFound);
        }
        let method = Method::parse(&cred.kind).ok_or(TwoFactorError::NotFound)?;
        let owned = self.factors.load(&auth.account).await?;
        let ctx = self.factors.ctx(&auth.account, &owned);
        let prompt = self
            .factors
            .get(method)?
            .enrol_prompt(&ctx, &cred)?
            .ok_or(TwoFactorError::NotFound)?;
        Ok(DeviceStart { id, prompt })
    }

    /// Confirms a pending device with a proof from it. For the first device, returns the
    /// backup codes (shown once).
    pub async fn device_enable(
        &self,
        auth: &Authenticated,
        id: Uuid,
        proof: &Proof,
    ) -> Result<Option<Vec<String>>, TwoFactorError> {
        self.login.require_fresh(auth)?;
        let account = &auth.account;
        let cred = self.own_device(account, id).await?;
        if cred.enabled_at.is_some() {
            return Err(TwoFactorError::NotFound);
        }
        let method = Method::parse(&cred.kind).ok_or(TwoFactorError::NotFound)?;
        let owned = self.factors.load(account).await?;
        let ctx = self.factors.ctx(account, &owned);
        // Confirmation codes count like login codes (MFA-7): a texted code can't be guessed at
        // leisure either.
        let tried = self.login.begin_try(account, owned.now()).await?;
        let confirmed = self.factors.get(method)?.confirm(&ctx, &cred, None, proof).await;
        self.login.end_try(account, tried, confirmed.is_ok()).await?;
        let data = confirmed?;
        let mut first = !owned
            .credentials()
            .iter()
            .any(|c| c.enabled_at.is_some() && Method::parse(&c.kind).is_some_and(Method::is_device));
        // MFA-5: the first device brings the backup codes. The store checks "first" as it
        // enables: when the last other device was removed meanwhile, this one is written again
        // as the first, with codes.
        for _ in 0..2 {
            let now = self.base.clock.now();
            let (codes, secrets) = if first {
                self.new_backup_codes(account, now)
            } else {
                (Vec::new(), Vec::new())
            };
            let audit = self.change_audit(auth, &format!("{}_enabled", method.as_str()));
            let mail = self
                .login
                .security_notice(account, notice_added(method, first), &audit)
                .await?;
            match self
                .ports
                .enable_credential(id, account.id, &data, &secrets, &audit, &[mail])
                .await
            {
                Ok(true) => {
                    self.base.mail_queued();
                    return Ok(first.then_some(codes));
                }
                Ok(false) => return Err(TwoFactorError::NotFound),
                Err(StoreError::Conflict(_)) if !first => first = true,
                Err(err) => return Err(err.into()),
            }
        }
        Err(devices_kept_changing())
    }

    pub async fn device_rename(&self, auth: &Authenticated, id: Uuid, description: &str) -> Result<(), TwoFactorError> {
        self.login.require_fresh(auth)?;
        let description = valid_description(description)?;
        let cred = self.own_device(&auth.account, id).await?;
        let method = Method::parse(&cred.kind).ok_or(TwoFactorError::NotFound)?;
        let audit = self.change_audit(auth, &format!("{}_renamed", method.as_str()));
        let mail = self
            .login
            .security_notice(&auth.account, Notice::DeviceRenamed(method), &audit)
            .await?;
        if !self
            .ports
            .rename_credential(id, auth.account.id, &description, &audit, &[mail])
            .await?
        {
            return Err(TwoFactorError::NotFound);
        }
        self.base.mail_queued();
        Ok(())
    }

    /// MFA-6: a challenge for one device, to prove it before removing it: WebAuthn options for
    /// a key, a texted code for a phone (nothing for an app). The state is kept on the device.
    pub async fn device_challenge(&self, auth: &Authenticated, id: Uuid) -> Result<Prompt, TwoFactorError> {
        let cred = self.own_device(&auth.account, id).await?;
        let method = Method::parse(&cred.kind).ok_or(TwoFactorError::NotFound)?;
        let owned = self.factors.load(&auth.account).await?;
        let ctx = self.factors.ctx(&auth.account, &owned);
        let scope = Scope {
            id,
            device: Some(&cred),
            state: None,
        };
        let challenge = self.factors.get(method)?.challenge(&ctx, scope).await?;
        if let Some(state) = challenge.state {
            let sealed = self
                .base
                .key
                .seal(CHALLENGE_PURPOSE, state.as_bytes(), self.base.rng.as_ref())
                .map_err(|e| StoreError::Internal(e.to_string()))?;
            self.ports
                .set_credential_challenge(id, auth.account.id, &sealed)
                .await?;
        }
        if matches!(challenge.prompt, Prompt::CodeSent { .. }) {
            self.base.sms_queued();
        }
        Ok(challenge.prompt)
    }

    /// MFA-6: removes a device, with a proof from it, or without one when the session's last
    /// authentication used another second factor. Returns whether 2FA is now off.
    pub async fn device_remove(
        &self,
        auth: &Authenticated,
        id: Uuid,
        proof: Option<&Proof>,
    ) -> Result<bool, TwoFactorError> {
        self.login.require_fresh(auth)?;
        let account = &auth.account;
        let cred = self.own_device(account, id).await?;
        let method = Method::parse(&cred.kind).ok_or(TwoFactorError::NotFound)?;
        if cred.enabled_at.is_some() {
            match proof {
                Some(proof) => {
                    let state = match self.ports.take_credential_challenge(id, account.id).await? {
                        Some(sealed) => Some(
                            self.base
                                .key
                                .open(CHALLENGE_PURPOSE, &sealed)
                                .map_err(|e| StoreError::Internal(e.to_string()))?,
                        ),
                        None => None,
                    };
                    let state = state.as_deref().map(|b| String::from_utf8_lossy(b).into_owned());
                    self.login
                        .check_device_proof(account, &cred, state.as_deref(), proof)
                        .await?;
                }
                None => {
                    let other = auth
                        .session
                        .second_factor
                        .as_deref()
                        .is_some_and(|used| used != id.to_string());
                    if !other {
                        return Err(TwoFactorError::DeviceProofRequired);
                    }
                }
            }
        }
        let others = self
            .ports
            .credentials(account.id)
            .await?
            .into_iter()
            .filter(|c| c.id != id && c.enabled_at.is_some() && Method::parse(&c.kind).is_some_and(Method::is_device))
            .count();
        let mut last = cred.enabled_at.is_some() && others == 0;
        // MFA-6: the store checks "last" as it deletes; a device removed or enabled meanwhile
        // turns the answer, and the removal is written again with the other notice.
        for _ in 0..2 {
            let notice = if last {
                Notice::TwoFactorDisabled
            } else {
                Notice::DeviceRemoved(method)
            };
            let what = if last {
                "two_factor_off".to_owned()
            } else {
                format!("{}_removed", method.as_str())
            };
            let audit = self.change_audit(auth, &what);
            let mails = if cred.enabled_at.is_some() {
                vec![self.login.security_notice(account, notice, &audit).await?]
            } else {
                Vec::new()
            };
            match self.ports.delete_credential(id, account.id, last, &audit, &mails).await {
                Ok(true) => {
                    self.base.mail_queued();
                    return Ok(last);
                }
                Ok(false) => return Err(TwoFactorError::NotFound),
                Err(StoreError::Conflict(_)) => last = !last,
                Err(err) => return Err(err.into()),
            }
        }
        Err(devices_kept_changing())
    }

    /// MFA-5: a new set of backup codes; the old set stops working.
    pub async fn regenerate_backup_codes(&self, auth: &Authenticated) -> Result<Vec<String>, TwoFactorError> {
        self.login.require_fresh(auth)?;
        let account = &auth.account;
        if self.factors.methods_for(account).await?.is_none() {
            return Err(TwoFactorError::NotEnabled);
        }
        let (codes, secrets) = self.new_backup_codes(account, self.base.clock.now());
        let audit = self.change_audit(auth, "backup_codes_regenerated");
        let mail = self
            .login
            .security_notice(account, Notice::BackupCodesRegenerated, &audit)
            .await?;
        self.ports
            .replace_backup_codes(account.id, &secrets, &audit, &[mail])
            .await?;
        self.base.mail_queued();
        Ok(codes)
    }

    fn new_backup_codes(&self, account: &Account, now: OffsetDateTime) -> (Vec<String>, Vec<OneTimeSecret>) {
        let codes = backup_code::generate(self.base.rng.as_ref(), self.base.settings.limits.backup_codes);
        let secrets = codes
            .iter()
            .filter_map(|c| backup_code::normalize(c))
            .map(|c| OneTimeSecret {
                id: new_id(now),
                purpose: backup_code::PURPOSE.into(),
                account_id: Some(account.id),
                flow_id: None,
                secret_hash: backup_code::hash(&self.base.key, account.id, &c),
                created_at: now,
                // Backup codes don't expire; they are voided by a new set or by 2FA going off.
                expires_at: OffsetDateTime::new_utc(time::Date::MAX, time::Time::MIDNIGHT),
            })
            .collect();
        (codes, secrets)
    }

    fn change_audit(&self, auth: &Authenticated, what: &str) -> AuditEvent {
        let client = ClientInfo {
            ip: auth.session.ip.clone(),
            user_agent: auth.session.user_agent.clone(),
            device: None,
            new_device: false,
        };
        let mut event = AuditEvent::new(
            self.base.clock.now(),
            AuditKind::TwoFactorChanged,
            Actor::Customer,
            &client,
        )
        .account(auth.account.id);
        event.detail = Some(what.to_owned());
        event
    }
}
