//! Session records as Redis holds them, each authenticated with a key derived
//! from the master key.
//!
//! Anyone who can write the Redis prefix could otherwise mint a session for
//! any user. So every value Tessera reads back carries an HMAC-SHA-256 tag
//! under [`RecordKey`], over a length-prefixed encoding that names what it is
//! and the session id it belongs to, so that a value cannot be altered,
//! forged, moved to another session's key, or one kind passed for another:
//!
//! - the record hash's fixed fields (`u`, `h`, `c`, `t0`, `ua`, `ip`), with
//!   the id, under `m`;
//! - `ts` (last seen, rewritten by every touch) under its own tag `tm`, over
//!   the id and `ts`: a touch writes both without reading the record;
//! - the data bag (its own key, so listings never read it) as `TAG.JSON`.
//!
//! A value whose tag is missing or wrong is *refused*: logged (the key and
//! the reason, never the data) and treated as absent, so the request
//! answers 401, never 5xx. Records written before tags existed have none and
//! are refused the same way: those users log in again (documented in
//! docs/deployment.md). What a writer to Redis can still do is delete, or put
//! back an earlier value of the same session's `ts` or data bag; never
//! create, extend past what Tessera wrote, or move a session.

use std::collections::HashMap;
use std::fmt;

use aws_lc_rs::hmac;
use tessera_core::clock::Timestamp;
use tessera_core::master_key::MasterKey;
use tessera_core::secret::{Secret, SecretHash};
use tessera_core::session::{ClientInfo, SessionId, SessionRecord};
use tessera_core::store::{SessionData, StoreError};
use tessera_core::user::UserId;

/// The label the record key is derived under; a new format gets a new label.
const LABEL: &str = "tessera/redis-record/v1";

/// The key that authenticates Redis session records. `Debug` is redacted.
#[derive(Clone)]
pub struct RecordKey(hmac::Key);

impl fmt::Debug for RecordKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecordKey(<redacted>)")
    }
}

impl RecordKey {
    /// The record key of `master` (the same on every node sharing the master key).
    pub fn from_master(master: &MasterKey) -> Self {
        Self(hmac::Key::new(hmac::HMAC_SHA256, &master.derive(LABEL)))
    }

    /// The tag of `parts` (what they are first), as lowercase hex.
    fn tag(&self, parts: &[&str]) -> String {
        let tag = hmac::sign(&self.0, &encode(parts));
        tag.as_ref().iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Whether `tag` is the tag of `parts` (compared in constant time).
    fn verifies(&self, parts: &[&str], tag: &str) -> bool {
        from_hex(tag).is_some_and(|t| hmac::verify(&self.0, &encode(parts), &t).is_ok())
    }

    /// The `m` tag of a session's fixed fields.
    pub(super) fn record_tag(&self, f: &FixedFields<'_>) -> String {
        self.tag(&f.parts())
    }

    /// The `tm` tag of a session's last-seen time.
    pub(super) fn seen_tag(&self, id: &str, seen: &str) -> String {
        self.tag(&["seen", id, seen])
    }

    /// A data bag as stored: `TAG.JSON`.
    pub(super) fn seal_data(
        &self,
        id: &SessionId,
        data: &SessionData,
    ) -> Result<String, StoreError> {
        let json = serde_json::to_string(data)
            .map_err(|_| StoreError::Corrupt("session data does not serialize".into()))?;
        let tag = self.tag(&["data", &id.to_string(), &json]);
        Ok(format!("{tag}.{json}"))
    }

    /// Reads what [`Self::seal_data`] wrote for `id`.
    pub(super) fn open_data(&self, id: &SessionId, stored: &str) -> Result<SessionData, Refused> {
        let (tag, json) = stored.split_once('.').ok_or(Refused("data bag without a tag"))?;
        if !self.verifies(&["data", &id.to_string(), json], tag) {
            return Err(Refused("data bag tag mismatch"));
        }
        serde_json::from_str(json).map_err(|_| Refused("data bag tagged but not JSON"))
    }

    /// Reads `{id, field, value, ...}` (as the find and list scripts return
    /// it) as a session record, checking its tags.
    pub(super) fn open_record(&self, fields: Vec<String>) -> Result<SessionRecord, Refused> {
        let mut it = fields.into_iter();
        let id = it.next().ok_or(Refused("empty reply"))?;
        let mut map = HashMap::new();
        while let (Some(k), Some(v)) = (it.next(), it.next()) {
            map.insert(k, v);
        }
        let get = |k: &str| map.get(k).map(String::as_str);
        let need = |k: &str| get(k).ok_or(Refused("a field is missing"));
        let fixed = FixedFields {
            id: &id,
            user: need("u")?,
            hash: need("h")?,
            csrf: need("c")?,
            created: need("t0")?,
            user_agent: get("ua"),
            ip: get("ip"),
        };
        let tag = get("m").ok_or(Refused("no tag (written before record tags, or forged)"))?;
        if !self.verifies(&fixed.parts(), tag) {
            return Err(Refused("record tag mismatch"));
        }
        let seen = need("ts")?;
        if !self.verifies(&["seen", &id, seen], need("tm")?) {
            return Err(Refused("last-seen tag mismatch"));
        }
        fixed.parse(seen).ok_or(Refused("record tagged but unreadable"))
    }
}

/// Why a stored value was not accepted: logged, and the value treated as absent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Refused(pub(super) &'static str);

/// Logs a refused value under its key (never its contents).
pub(super) fn log_refused(key: &str, why: Refused) {
    tracing::warn!(key, reason = why.0, "Redis session value failed authentication; refused");
}

/// The fields of a session that never change after insert, as stored.
pub(super) struct FixedFields<'a> {
    pub(super) id: &'a str,
    pub(super) user: &'a str,
    pub(super) hash: &'a str,
    pub(super) csrf: &'a str,
    pub(super) created: &'a str,
    pub(super) user_agent: Option<&'a str>,
    pub(super) ip: Option<&'a str>,
}

impl FixedFields<'_> {
    /// What the `m` tag covers; an absent optional field and an empty one differ.
    fn parts(&self) -> Vec<&str> {
        let (ua_set, ua) = self.user_agent.map_or(("0", ""), |v| ("1", v));
        let (ip_set, ip) = self.ip.map_or(("0", ""), |v| ("1", v));
        vec![
            "session",
            self.id,
            self.user,
            self.hash,
            self.csrf,
            self.created,
            ua_set,
            ua,
            ip_set,
            ip,
        ]
    }

    fn parse(&self, seen: &str) -> Option<SessionRecord> {
        Some(SessionRecord {
            id: SessionId::parse(self.id)?,
            secret_hash: SecretHash::from_hex(self.hash)?,
            user_id: UserId::parse(self.user)?,
            csrf_token: Secret::from_presented(self.csrf),
            created_at: Timestamp::from_unix(self.created.parse().ok()?),
            last_seen_at: Timestamp::from_unix(seen.parse().ok()?),
            client: ClientInfo {
                user_agent: self.user_agent.map(str::to_owned),
                ip: self.ip.map(str::to_owned),
            },
        })
    }
}

/// Each part length-prefixed, so no two sequences of parts encode alike.
fn encode(parts: &[&str]) -> Vec<u8> {
    let mut out = Vec::with_capacity(parts.iter().map(|p| p.len() + 4).sum());
    for part in parts {
        let len = u32::try_from(part.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(part.as_bytes());
    }
    out
}

fn from_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) || !hex.is_ascii() {
        return None;
    }
    (0..hex.len() / 2).map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_core::OsEntropy;

    fn key() -> RecordKey {
        RecordKey::from_master(&MasterKey::generate(&OsEntropy))
    }

    fn stored(k: &RecordKey) -> Vec<String> {
        let id = "6f1c1a9e-8f7b-4a43-9a55-5f0f2b9a3c11";
        let user = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
        let hash = "ab".repeat(32);
        let fixed = FixedFields {
            id,
            user,
            hash: &hash,
            csrf: "csrf",
            created: "100",
            user_agent: Some("ua"),
            ip: None,
        };
        let m = k.record_tag(&fixed);
        let tm = k.seen_tag(id, "150");
        [id, "u", user, "h", &hash, "c", "csrf", "t0", "100", "ua", "ua", "m", &m, "ts", "150"]
            .into_iter()
            .map(str::to_owned)
            .chain(["tm".to_owned(), tm])
            .collect()
    }

    #[test]
    fn record_tagged_by_its_key_opens() {
        let k = key();
        let r = k.open_record(stored(&k)).unwrap();
        assert_eq!(r.created_at.unix(), 100);
        assert_eq!(r.last_seen_at.unix(), 150);
        assert_eq!(r.client, ClientInfo { user_agent: Some("ua".into()), ip: None });
    }

    #[test]
    fn record_with_any_field_changed_added_or_dropped_is_refused() {
        let k = key();
        let good = stored(&k);
        // Every value (the id included), changed by one character.
        for i in (0..good.len()).step_by(2) {
            let mut bad = good.clone();
            bad[i].push('0');
            assert!(k.open_record(bad).is_err(), "changed value at {i} accepted");
        }
        let mut added = good.clone();
        added.extend(["ip".to_owned(), "10.0.0.1".to_owned()]);
        assert!(k.open_record(added).is_err(), "an added ip is covered by the tag");
        let dropped: Vec<String> = good[..good.len() - 2].to_vec();
        assert_eq!(k.open_record(dropped), Err(Refused("a field is missing")));
        assert!(key().open_record(good).is_err(), "another master key's record");
    }

    #[test]
    fn record_without_tag_as_written_before_tags_is_refused() {
        let k = key();
        let old: Vec<String> = stored(&k).into_iter().take(11).collect();
        assert_eq!(
            k.open_record(old),
            Err(Refused("no tag (written before record tags, or forged)"))
        );
    }

    #[test]
    fn data_bag_opens_only_for_its_own_session_and_unaltered() {
        let k = key();
        let id = SessionId::parse("6f1c1a9e-8f7b-4a43-9a55-5f0f2b9a3c11").unwrap();
        let other = SessionId::parse("7f1c1a9e-8f7b-4a43-9a55-5f0f2b9a3c11").unwrap();
        let mut data = SessionData::new();
        data.insert("cart".into(), 3.into());
        let sealed = k.seal_data(&id, &data).unwrap();
        assert_eq!(k.open_data(&id, &sealed).unwrap(), data);
        assert!(k.open_data(&other, &sealed).is_err());
        assert!(k.open_data(&id, &sealed.replace('3', "4")).is_err());
        assert!(k.open_data(&id, "{}").is_err());
    }

    #[test]
    fn record_key_debug_is_redacted() {
        assert_eq!(format!("{:?}", key()), "RecordKey(<redacted>)");
    }
}
