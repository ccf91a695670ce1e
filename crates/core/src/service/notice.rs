//! Security notices that say who did it (#15 item 9): when, from which address and on what the
//! change was made (from the audit event that records it), and the "not you?" link that ends
//! every session without a login (RISK-2). A change nobody made from a browser (support, the
//! operator, a due email change) gets the notice alone; its own mail says who acted.

use super::login_flow::{Login, TwoFactorError};
use super::sessions::Authenticated;
use super::sessions::{LoginError, device_description};
use super::{IpRestrictionError, RecoveryError};
use crate::audit::{Actor, AuditEvent, AuditKind, ClientInfo};
use crate::mail::{ComposeError, ComposedMail, EventContext, MailKind, Notice};
use crate::ports::{Account, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum NoticeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Mail(#[from] ComposeError),
}

impl Login {
    /// LOGIN-4: the customer switches login notifications on or off. A security setting: it needs
    /// a fresh authentication (SESS-3), so a stolen stale session can't silence the alerts; and
    /// switching them off is itself mailed, with a "not you?" link (#15 item 9).
    pub async fn set_login_notifications(
        &self,
        auth: &Authenticated,
        on: bool,
        client: &ClientInfo,
    ) -> Result<bool, TwoFactorError> {
        self.base.require_fresh(auth)?;
        let kind = if on {
            AuditKind::NotificationsOn
        } else {
            AuditKind::NotificationsOff
        };
        let audit = AuditEvent::new(self.base.clock.now(), kind, Actor::Customer, client).account(auth.account.id);
        let mails = if on {
            Vec::new()
        } else {
            vec![
                self.security_notice(&auth.account, Notice::NotificationsOff, &audit)
                    .await?,
            ]
        };
        let changed = self
            .ports
            .set_login_notifications(auth.account.id, on, &audit, &mails)
            .await?;
        if changed && !mails.is_empty() {
            self.base.mail_queued();
        }
        Ok(changed)
    }

    /// The notice of a change, with its context when a customer-side request made it.
    pub(crate) async fn security_notice(
        &self,
        account: &Account,
        notice: Notice,
        origin: &AuditEvent,
    ) -> Result<ComposedMail, NoticeError> {
        // A browser's request: a customer (or a login not finished yet) with an address or a
        // user agent. Support, the operator and the janitor (no client) get the notice alone.
        let from_a_request = origin.ip.is_some() || origin.user_agent.is_some();
        let event = match origin.actor {
            Actor::Customer | Actor::Anonymous if from_a_request => Some(EventContext {
                at: origin.at,
                ip: origin.ip.clone(),
                device: device_description(origin.user_agent.as_deref()),
                not_me_url: self.not_me_link(account, origin.at).await?,
            }),
            _ => None,
        };
        // Its "not you?" link clears the body once sent, or once the link expired unsent.
        let expires_at = event.as_ref().map(|e| e.at + super::sessions::NOT_ME_TTL);
        Ok(self
            .base
            .compose_for(account, MailKind::SecurityNotice(notice, event), expires_at)?)
    }
}

macro_rules! from_notice {
    ($($error:ty),*) => {$(
        impl From<NoticeError> for $error {
            fn from(err: NoticeError) -> Self {
                match err {
                    NoticeError::Store(e) => e.into(),
                    NoticeError::Mail(e) => e.into(),
                }
            }
        }
    )*};
}

from_notice!(TwoFactorError, RecoveryError, IpRestrictionError, LoginError);
