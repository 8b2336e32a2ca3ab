//! The devices list: every live browser session and refresh family of a
//! user, ending one of them, and the cap on how many one user may hold.
//!
//! A *login* is a browser session or a refresh family; both are listed as
//! devices and both count against [`DevicePolicy::max_logins_per_user`]. Each
//! new login, once stored, ends the oldest of the user's other live logins
//! beyond the cap, through [`Tessera::end_login`], the same path a device
//! removal takes (its access tokens die with it, and the change is announced).
//!
//! Why one rule holds under concurrency: every login lists the user's logins
//! *after* storing its own, keeps itself and the newest `cap - 1` others (by
//! login time, then id) and ends the rest. Of the logins live once every
//! login has returned, the one stored last saw all the others in its list and
//! kept only `cap` of them, so at most `cap` are live: exactly the cap, no
//! slack. Logins arriving at the same instant beyond the cap may end each
//! other (each spares only itself), so a burst can leave fewer than the cap,
//! never more.

use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::refresh::{FamilyId, FamilyKind};
use crate::service::Tessera;
use crate::session::{ClientInfo, Liveness, SessionId};
use crate::user::UserId;

/// How many logins one user may hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DevicePolicy {
    /// Most live sessions and refresh families, counted together, that one
    /// user may hold; a login past it ends the oldest others. At least 1.
    pub max_logins_per_user: usize,
}

impl Default for DevicePolicy {
    /// 100: far more devices than a person uses, and small enough that the
    /// devices list and the per-login check stay cheap.
    fn default() -> Self {
        Self { max_logins_per_user: 100 }
    }
}

/// One login, by what ends it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoginHandle {
    /// A browser session.
    Session(SessionId),
    /// A refresh family (token or hybrid mode).
    Family(FamilyId),
}

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
            return self.end_login(LoginHandle::Family(fid)).await;
        }
        Err(Error::NotFound)
    }

    /// Ends one login at once, its access tokens included, and tells the
    /// other nodes: the one path for a device removal and the login cap.
    pub async fn end_login(&self, login: LoginHandle) -> Result<()> {
        match login {
            // The session's own expiry is not at hand: its end is kept for
            // the longest it could still live (an upper bound; never shorter).
            LoginHandle::Session(id) => {
                let until = self.clock.now().plus(self.config.session.absolute_ttl);
                self.end_sessions(&[(id, until)]).await
            }
            LoginHandle::Family(id) => self.revoke_family(&id).await,
        }
    }

    /// Holds `user` to the login cap once `own` is stored: keeps `own` and
    /// the newest `cap - 1` other live logins, ends the rest (see the module
    /// docs for why this bounds concurrent logins too). A store failure
    /// fails the login: `own` then holds no credential anyone received, and
    /// the next login trims it.
    pub(crate) async fn enforce_login_cap(&self, user: &UserId, own: LoginHandle) -> Result<()> {
        let cap = self.config.devices.max_logins_per_user.max(1);
        // Oldest first, by (login time, id): the same order on every node.
        let others: Vec<LoginHandle> = self
            .list_devices(user, CurrentLogin::None)
            .await?
            .iter()
            .filter_map(Device::handle)
            .filter(|h| *h != own)
            .collect();
        let excess = (others.len() + 1).saturating_sub(cap);
        for login in &others[..excess] {
            tracing::info!(user = %user, login = ?login, cap, "login cap reached; oldest login ended");
            self.end_login(*login).await?;
        }
        Ok(())
    }
}

impl Device {
    /// What ends this device.
    fn handle(&self) -> Option<LoginHandle> {
        match self.kind {
            DeviceKind::Session => SessionId::parse(&self.id).map(LoginHandle::Session),
            DeviceKind::Token | DeviceKind::Hybrid => {
                FamilyId::parse(&self.id).map(LoginHandle::Family)
            }
        }
    }
}

#[cfg(test)]
#[path = "device_tests.rs"]
mod tests;
