//! The second factors as a capability (MFA-1): the registry of factors, their settings and the
//! narrow ports they work through (`FactorPorts`). The login flow and the device service reach a
//! factor only through here.

use super::Base;
use super::login_flow::TwoFactorError;
use crate::factor::sms::{self, PhoneChoice};
use crate::factor::{FactorContext, FactorPorts, FactorSettings, Method, SecondFactor, registry};
use crate::ports::{Account, FactorCredential, StoreError};
use std::sync::Arc;
use time::OffsetDateTime;

/// The factor registry over its ports.
#[derive(Clone)]
pub struct Factors {
    base: Arc<Base>,
    ports: Arc<dyn FactorPorts>,
    /// Every second factor, in the order methods are offered (MFA-1).
    registry: Arc<[Arc<dyn SecondFactor>]>,
    settings: Arc<FactorSettings>,
}

impl std::fmt::Debug for Factors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Factors")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// A factor context's owned part: the account's credentials, read once, and the time.
pub(super) struct Loaded {
    credentials: Vec<FactorCredential>,
    now: OffsetDateTime,
}

impl Loaded {
    pub(super) fn credentials(&self) -> &[FactorCredential] {
        &self.credentials
    }

    pub(super) fn now(&self) -> OffsetDateTime {
        self.now
    }
}

impl Factors {
    pub(super) fn new(base: Arc<Base>, ports: Arc<dyn FactorPorts>, settings: FactorSettings) -> Self {
        Self {
            base,
            ports,
            registry: registry().into(),
            settings: Arc::new(settings),
        }
    }

    pub(super) fn settings(&self) -> &FactorSettings {
        &self.settings
    }

    /// What a factor context for `account` owns: its credentials, read once, and now.
    pub(super) async fn load(&self, account: &Account) -> Result<Loaded, StoreError> {
        Ok(self.loaded(self.ports.credentials(account.id).await?))
    }

    /// [`Self::load`] with the credentials already read.
    pub(super) fn loaded(&self, credentials: Vec<FactorCredential>) -> Loaded {
        Loaded {
            credentials,
            now: self.base.clock.now(),
        }
    }

    pub(super) fn ctx<'a>(&'a self, account: &'a Account, loaded: &'a Loaded) -> FactorContext<'a> {
        FactorContext {
            ports: self.ports.as_ref(),
            key: &self.base.key,
            rng: self.base.rng.as_ref(),
            settings: &self.settings,
            account,
            credentials: &loaded.credentials,
            now: loaded.now,
        }
    }

    pub(super) fn get(&self, method: Method) -> Result<&Arc<dyn SecondFactor>, TwoFactorError> {
        self.registry
            .iter()
            .find(|f| f.method() == method)
            .ok_or(TwoFactorError::MethodNotAllowed)
    }

    /// The methods an account must choose from after its password; `None` when 2FA is off. 2FA
    /// is on while any device is enrolled (MFA-6), even one whose method can't be used here now
    /// (then only the others, backup codes included, are offered, and when none is left the
    /// list is empty: the second step then leads to support, never around it).
    pub async fn methods_for(&self, account: &Account) -> Result<Option<Vec<Method>>, StoreError> {
        let loaded = self.load(account).await?;
        self.methods_among(account, &loaded).await
    }

    /// [`Self::methods_for`] with the account's credentials already read.
    pub(super) async fn methods_among(
        &self,
        account: &Account,
        loaded: &Loaded,
    ) -> Result<Option<Vec<Method>>, StoreError> {
        let ctx = self.ctx(account, loaded);
        let on = loaded
            .credentials
            .iter()
            .any(|c| c.enabled_at.is_some() && Method::parse(&c.kind).is_some_and(Method::is_device));
        if !on {
            return Ok(None);
        }
        let mut methods = Vec::new();
        for factor in self.registry.iter() {
            if factor
                .available(&ctx)
                .await
                .map_err(|e| StoreError::Internal(e.to_string()))?
            {
                methods.push(factor.method());
            }
        }
        Ok(Some(methods))
    }

    /// MFA-1: the phones a login offering SMS may text, the default first; none otherwise.
    pub(super) fn phones(&self, account: &Account, loaded: &Loaded, methods: &[Method]) -> Vec<PhoneChoice> {
        if !methods.contains(&Method::Sms) {
            return Vec::new();
        }
        sms::phones(&self.ctx(account, loaded))
    }
}
