//! The devices list: every live browser session and refresh family of a
//! user, and ending one of them.

use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::refresh::{FamilyId, FamilyKind};
use crate::service::Tessera;
use crate::session::{ClientInfo, Liveness, SessionId};
use crate::user::UserId;

/// What a device entry is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceKind {
    /// A browser session (session mode).
    Session,
    /// A refresh family in token mode.
    Token,
    /// A refresh family in hybrid mode.
    Hybrid,
}

impl DeviceKind {
    /// The contract's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Session => "session",
            Self::Token => "token",
            Self::Hybrid => "hybrid",
        }
    }
}

/// The caller's own login, to mark it `current` and to spare it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CurrentLogin {
    /// A browser session.
    Session(SessionId),
    /// A refresh family (token or hybrid mode).
    Family(FamilyId),
    /// Not a login (a client's own token).
    None,
}

/// One entry of `GET /v1/sessions`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Device {
    /// Session id or family id (`sid`).
    pub id: String,
    /// What it is.
    pub kind: DeviceKind,
    /// Login time.
    pub created_at: Timestamp,
    /// Last use recorded.
    pub last_seen_at: Timestamp,
    /// End of its absolute lifetime.
    pub expires_at: Timestamp,
    /// Where the login came from.
    pub client: ClientInfo,
    /// Whether it is the caller's own.
    pub current: bool,
}

impl Tessera {
    /// Every live session and refresh family of `user`, oldest first.
    pub async fn list_devices(&self, user: &UserId, current: CurrentLogin) -> Result<Vec<Device>> {
        let now = self.clock.now();
        let policy = &self.config.session;
        let index = &self.tokens.revocations;
        let mut devices: Vec<Device> = self
            .stores
            .sessions
            .list_user_sessions(user)
            .await?
            .into_iter()
            .filter(|s| policy.liveness_at(s, now) == Liveness::Live)
            .filter(|s| index.check_session(&s.id, &s.user_id, s.created_at).is_ok())
            .map(|s| Device {
                id: s.id.to_string(),
                kind: DeviceKind::Session,
                created_at: s.created_at,
                last_seen_at: s.last_seen_at,
                expires_at: policy.expires_at(&s),
                current: current == CurrentLogin::Session(s.id),
                client: s.client,
            })
            .collect();
        let families = self.stores.refresh.list_user_families(user).await?;
        devices.extend(families.into_iter().filter(|f| f.is_live_at(now)).map(|f| Device {
            id: f.id.to_string(),
            kind: match f.kind {
                FamilyKind::Token => DeviceKind::Token,
                FamilyKind::Hybrid => DeviceKind::Hybrid,
            },
            created_at: f.created_at,
            last_seen_at: f.last_used_at,
            expires_at: f.expires_at,
            current: current == CurrentLogin::Family(f.id),
            client: f.client,
        }));
        devices.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(devices)
    }

    /// Ends one of `user`'s sessions or families by id, at once (its access
    /// tokens included). `NotFound` for an unknown id or someone else's.
    pub async fn end_device(&self, user: &UserId, id: &str) -> Result<()> {
        if let Some(sid) = SessionId::parse(id) {
            let sessions = self.stores.sessions.list_user_sessions(user).await?;
            if let Some(owned) = sessions.into_iter().find(|s| s.id == sid) {
                return self.end_session_records(&[owned]).await;
            }
        }
        if let Some(fid) = FamilyId::parse(id)
            && let Some(f) = self.stores.refresh.find_family(&fid).await?
            && f.user_id == *user
            && f.revoked_at.is_none()
        {
            return self.revoke_family(&fid).await;
        }
        Err(Error::NotFound)
    }
}
