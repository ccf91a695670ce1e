//! What the customer sees of their own security (SESS-4, AUDIT-2, RISK-2): live sessions, which
//! they can end one by one or all but this one; known devices, which they can forget; and the
//! security events of the last 90 days.

use super::login_flow::Login;
use super::password_guard::device_hash;
use super::sessions::{Authenticated, device_description};
use crate::audit::{Actor, AuditEvent, AuditKind, ClientInfo};
use crate::ports::{KnownDevice, StoreError};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

/// How far back the activity goes.
const ACTIVITY_DAYS: Duration = Duration::days(90);
/// At most this many events are shown.
const ACTIVITY_LIMIT: u32 = 200;

/// A live session as its owner sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionView {
    pub id: Uuid,
    /// The session asking.
    pub current: bool,
    pub ip: Option<String>,
    /// "Firefox 120 · Linux" (empty when unrecognised).
    pub device: String,
    pub created_at: OffsetDateTime,
    pub last_seen_at: OffsetDateTime,
}

/// A known device as its owner sees it: an opaque id (a prefix of its hash) and dates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceView {
    pub id: String,
    /// The browser asking.
    pub current: bool,
    pub created_at: OffsetDateTime,
    pub last_seen_at: OffsetDateTime,
}

/// A known device's public id: enough of its hash to name it, nothing to recover it from.
fn public_id(device: &KnownDevice) -> String {
    hex::encode(device.device_hash.get(..12).unwrap_or(&device.device_hash))
}

impl Login {
    /// SESS-4: the account's live sessions, this one first.
    pub async fn sessions(&self, auth: &Authenticated) -> Result<Vec<SessionView>, StoreError> {
        let now = self.base.clock.now();
        let settings = &self.base.settings;
        let mut views: Vec<SessionView> = self
            .ports
            .live_sessions(auth.account.id)
            .await?
            .into_iter()
            .filter(|s| now < s.last_seen_at + settings.session_idle && now < s.created_at + settings.session_absolute)
            .map(|s| SessionView {
                current: s.id == auth.session.id,
                id: s.id,
                device: device_description(s.user_agent.as_deref()),
                ip: s.ip,
                created_at: s.created_at,
                last_seen_at: s.last_seen_at,
            })
            .collect();
        views.sort_by_key(|v| !v.current);
        Ok(views)
    }

    /// SESS-4: ends one of the account's sessions (on every node at once: sessions are rows).
    pub async fn end_own_session(
        &self,
        auth: &Authenticated,
        id: Uuid,
        client: &ClientInfo,
    ) -> Result<bool, StoreError> {
        let own = self
            .ports
            .live_sessions(auth.account.id)
            .await?
            .iter()
            .any(|s| s.id == id);
        if !own {
            return Ok(false);
        }
        let now = self.base.clock.now();
        let audit = AuditEvent::new(now, AuditKind::SessionEnded, Actor::Customer, client).account(auth.account.id);
        self.ports.end_session(id, now, &audit).await
    }

    /// SESS-4: ends every session of the account but this one; how many were ended.
    pub async fn end_other_sessions(&self, auth: &Authenticated, client: &ClientInfo) -> Result<u64, StoreError> {
        let now = self.base.clock.now();
        let mut audit = AuditEvent::new(now, AuditKind::SessionEnded, Actor::Customer, client).account(auth.account.id);
        audit.detail = Some("all_others".into());
        self.ports
            .end_other_sessions(auth.account.id, auth.session.id, now, &audit)
            .await
    }

    /// RISK-2: the browsers that logged in to the account, most recently seen first.
    pub async fn known_devices(
        &self,
        auth: &Authenticated,
        client: &ClientInfo,
    ) -> Result<Vec<DeviceView>, StoreError> {
        let mine = client.device.as_deref().map(device_hash);
        Ok(self
            .ports
            .known_devices(auth.account.id)
            .await?
            .iter()
            .map(|d| DeviceView {
                id: public_id(d),
                current: mine.as_deref() == Some(d.device_hash.as_slice()),
                created_at: d.created_at,
                last_seen_at: d.last_seen_at,
            })
            .collect())
    }

    /// RISK-2: forgets a known device: it is a stranger to the account's throttling again.
    pub async fn forget_device(&self, auth: &Authenticated, id: &str, client: &ClientInfo) -> Result<bool, StoreError> {
        let devices = self.ports.known_devices(auth.account.id).await?;
        let Some(device) = devices.iter().find(|d| public_id(d) == id) else {
            return Ok(false);
        };
        let audit = AuditEvent::new(
            self.base.clock.now(),
            AuditKind::DeviceForgotten,
            Actor::Customer,
            client,
        )
        .account(auth.account.id);
        self.ports
            .forget_device(auth.account.id, &device.device_hash, &audit)
            .await
    }

    /// AUDIT-2: the account's security events of the last 90 days, newest first.
    pub async fn activity(&self, auth: &Authenticated) -> Result<Vec<AuditEvent>, StoreError> {
        let since = self.base.clock.now() - ACTIVITY_DAYS;
        let mut events = self.ports.recent_events(auth.account.id, ACTIVITY_LIMIT).await?;
        events.retain(|e| e.at >= since);
        // SUPPORT-5: the customer sees who from support acted, not where that agent works from.
        for event in &mut events {
            if matches!(event.actor, Actor::Support | Actor::Operator) {
                event.ip = None;
                event.user_agent = None;
                event.device = None;
            }
        }
        Ok(events)
    }
}
