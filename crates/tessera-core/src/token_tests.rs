//! Unit tests of token issuance, verification and revocation on the memory
//! store with a manual clock.

use std::sync::Arc;

use super::*;
use crate::clock::ManualClock;
use crate::device::CurrentLogin;
use crate::master_key::MasterKey;
use crate::memory::MemoryStore;
use crate::password::Argon2idHasher;
use crate::service::{TesseraConfig, TesseraParts};
use crate::store::Stores;
use crate::{Clock, OsEntropy};

const T0: Timestamp = Timestamp::from_unix(1_790_000_000);
const PW: &str = "correct horse battery";

struct World {
    clock: Arc<ManualClock>,
    store: Arc<MemoryStore>,
    master: MasterKey,
}

impl World {
    fn new() -> Self {
        Self {
            clock: Arc::new(ManualClock::new(T0)),
            store: Arc::new(MemoryStore::new()),
            master: MasterKey::generate(&OsEntropy),
        }
    }

    /// A Tessera on this world's store: calling it twice is a restart.
    async fn tessera(&self, alg: Algorithm) -> Tessera {
        self.tessera_caching(alg, TokenPolicy::default().verified_cache_capacity).await
    }

    /// The same, remembering at most `capacity` verified tokens.
    async fn tessera_caching(&self, alg: Algorithm, capacity: u64) -> Tessera {
        Tessera::new(TesseraParts {
            stores: Stores::single(self.store.clone()),
            clock: self.clock.clone(),
            entropy: Arc::new(OsEntropy),
            hasher: Arc::new(Argon2idHasher::new(64, 1, 1).unwrap()),
            hash_concurrency: 2,
            config: TesseraConfig {
                token: TokenPolicy {
                    issuer: "https://auth.test".into(),
                    audience: "https://api.test".into(),
                    algorithm: alg,
                    verified_cache_capacity: capacity,
                    ..TokenPolicy::default()
                },
                ..TesseraConfig::default()
            },
            master_key: self.master.clone(),
        })
        .await
        .unwrap()
    }
}

async fn with_alice(alg: Algorithm) -> (World, Tessera) {
    let w = World::new();
    let t = w.tessera(alg).await;
    t.create_user("alice", PW, "read write admin").await.unwrap();
    (w, t)
}

async fn login(t: &Tessera, scope: Option<&str>) -> TokenGrant {
    let (_, g) = t
        .login_for_tokens("alice", PW, None, scope, FamilyKind::Token, ClientInfo::default())
        .await
        .unwrap();
    g
}

#[tokio::test]
async fn token_login_issues_verifiable_rfc9068_token_for_every_algorithm() {
    for alg in Algorithm::ALL {
        let (w, t) = with_alice(alg).await;
        let g = login(&t, None).await;
        let v = t.verify_access_token(&g.access.token).unwrap();
        let c = v.claims();
        assert_eq!(
            (c.iss.as_str(), c.aud.contains("https://api.test")),
            ("https://auth.test", true)
        );
        assert_eq!(c.client_id, "tessera");
        assert_eq!(c.scope, "admin read write");
        assert_eq!(c.sid.as_deref(), Some(g.refresh.family.id.to_string().as_str()));
        assert_eq!(c.exp - c.iat, 900);
        assert_eq!(c.auth_time, Some(w.clock.now().unix()));
        assert!(v.has_scopes("read admin") && !v.has_scopes("root"));
    }
}

#[tokio::test]
async fn token_scope_narrows_never_grows() {
    let (_, t) = with_alice(Algorithm::EdDSA).await;
    assert_eq!(login(&t, Some("read")).await.access.scope, "read");
    let grow = t
        .login_for_tokens(
            "alice",
            PW,
            None,
            Some("read root"),
            FamilyKind::Token,
            ClientInfo::default(),
        )
        .await;
    // Beyond the user's scope: refused as a failed login (issue 12 item 10).
    assert!(matches!(grow, Err(Error::InvalidCredentials(_))));
    let g = login(&t, Some("read write")).await;
    let narrowed = t
        .refresh_tokens(g.refresh.secret.expose(), "tessera", Some("read"), t.clock().moment())
        .await
        .unwrap();
    assert_eq!(narrowed.access.scope, "read");
    let grown = t
        .refresh_tokens(
            narrowed.refresh.secret.expose(),
            "tessera",
            Some("admin"),
            t.clock().moment(),
        )
        .await;
    assert!(matches!(grown, Err(Error::InvalidScope(_))));
    // The refused grow consumed nothing.
    assert!(
        t.refresh_tokens(narrowed.refresh.secret.expose(), "tessera", None, t.clock().moment())
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn token_reuse_revokes_family_and_its_access_tokens() {
    let (w, t) = with_alice(Algorithm::EdDSA).await;
    let first = login(&t, None).await;
    let second = t
        .refresh_tokens(first.refresh.secret.expose(), "tessera", None, t.clock().moment())
        .await
        .unwrap();
    assert!(t.verify_access_token(&second.access.token).is_ok());
    w.clock.advance(Duration::seconds(5));
    let reuse =
        t.refresh_tokens(first.refresh.secret.expose(), "tessera", None, t.clock().moment()).await;
    assert!(matches!(reuse, Err(Error::InvalidGrant("refresh token reuse"))), "{reuse:?}");
    for token in [&first.access.token, &second.access.token] {
        let r = t.verify_access_token(token);
        assert!(matches!(r, Err(Error::InvalidToken("revoked"))), "{r:?}");
    }
}

#[tokio::test]
async fn token_revocations_survive_restart() {
    let (w, t) = with_alice(Algorithm::ES256).await;
    let a = login(&t, None).await;
    let b = login(&t, None).await;
    t.revoke_token(&a.access.token, Some("access_token"), "tessera").await.unwrap();
    t.revoke_token(b.refresh.secret.expose(), None, "tessera").await.unwrap();
    drop(t);
    let restarted = w.tessera(Algorithm::ES256).await;
    assert!(restarted.verify_access_token(&a.access.token).is_err(), "jti revocation");
    assert!(restarted.verify_access_token(&b.access.token).is_err(), "family (sid) revocation");
}

#[tokio::test]
async fn token_revoke_other_clients_token_left_alone() {
    let (_, t) = with_alice(Algorithm::EdDSA).await;
    let g = login(&t, None).await;
    t.revoke_token(&g.access.token, None, "someone-else").await.unwrap();
    t.revoke_token(g.refresh.secret.expose(), None, "someone-else").await.unwrap();
    assert!(t.verify_access_token(&g.access.token).is_ok());
    assert!(
        t.refresh_tokens(g.refresh.secret.expose(), "tessera", None, t.clock().moment())
            .await
            .is_ok()
    );
    t.revoke_token("not a token at all", None, "tessera").await.unwrap();
}

#[tokio::test]
async fn token_disable_kills_access_token_issued_same_second() {
    let (_, t) = with_alice(Algorithm::EdDSA).await;
    let g = login(&t, None).await;
    t.set_user_disabled("alice", true).await.unwrap();
    assert!(t.verify_access_token(&g.access.token).is_err());
    assert!(
        t.refresh_tokens(g.refresh.secret.expose(), "tessera", None, t.clock().moment())
            .await
            .is_err()
    );
}

#[tokio::test]
async fn token_signed_before_rotation_valid_after_until_expiry() {
    let (w, t) = with_alice(Algorithm::EdDSA).await;
    let before = login(&t, None).await;
    let old_kid = t.key_ring().current().kid().to_owned();
    let next_kid = t
        .key_ring()
        .keys()
        .iter()
        .find(|k| k.state() == KeyState::Next)
        .map(|k| k.key().kid().to_owned())
        .unwrap();
    let new_kid = t.rotate_keys().await.unwrap();
    assert_eq!(new_kid, next_kid, "the published next key takes over");
    assert_ne!(new_kid, old_kid);
    assert!(t.verify_access_token(&before.access.token).is_ok());
    let after = login(&t, None).await;
    assert!(t.verify_access_token(&after.access.token).is_ok());
    // Once every token of the retired key has expired, maintenance prunes it.
    w.clock.advance(Duration::seconds(900 + 31));
    t.maintain_keys().await.unwrap();
    assert!(t.key_ring().find(&old_kid).is_none());
}

#[tokio::test]
async fn token_scheduled_rotation_happens_after_interval() {
    let (w, t) = with_alice(Algorithm::EdDSA).await;
    let first = t.key_ring().current().kid().to_owned();
    t.maintain_keys().await.unwrap();
    assert_eq!(t.key_ring().current().kid(), first);
    w.clock.advance(Duration::seconds(30 * 86_400));
    t.maintain_keys().await.unwrap();
    assert_ne!(t.key_ring().current().kid(), first);
}

#[tokio::test]
async fn token_client_credentials_and_introspection() {
    let (_, t) = with_alice(Algorithm::EdDSA).await;
    let (_, secret) =
        t.register_client("billing", true, "invoices:read invoices:write").await.unwrap();
    let secret = secret.unwrap();
    let client = t.authenticate_client("billing", secret.expose()).await.unwrap();
    assert!(t.authenticate_client("billing", "wrong").await.is_err());
    assert!(t.authenticate_client("tessera", "").await.is_err(), "public client has no secret");
    let at = t.client_credentials(&client, Some("invoices:read")).unwrap();
    assert!(t.client_credentials(&client, Some("admin")).is_err());
    let v = t.verify_access_token(&at.token).unwrap();
    assert_eq!((v.claims().sub.as_str(), v.user_id()), ("billing", None));

    let user_token = login(&t, None).await.access.token;
    match t.introspect(&user_token, &client).await.unwrap() {
        Introspection::Active { claims, username } => {
            assert_eq!(username.as_deref(), Some("alice"));
            assert_eq!(claims.client_id, "tessera");
        }
        Introspection::Inactive => panic!("live token reported inactive"),
    }
    assert_eq!(t.introspect("garbage", &client).await.unwrap(), Introspection::Inactive);
}

#[tokio::test]
async fn token_confidential_client_cannot_password_login() {
    let (_, t) = with_alice(Algorithm::EdDSA).await;
    t.register_client("backend", true, "").await.unwrap();
    t.register_client("mobile", false, "").await.unwrap();
    let login_as = |c: &'static str| {
        t.login_for_tokens("alice", PW, Some(c), None, FamilyKind::Token, ClientInfo::default())
    };
    assert!(matches!(login_as("backend").await, Err(Error::InvalidClient(_))));
    assert!(matches!(login_as("nope").await, Err(Error::InvalidClient(_))));
    assert!(login_as("mobile").await.is_ok());
}

#[tokio::test]
async fn token_changed_algorithm_refuses_to_start() {
    let w = World::new();
    drop(w.tessera(Algorithm::EdDSA).await);
    let other = Tessera::new(TesseraParts {
        stores: Stores::single(w.store.clone()),
        clock: w.clock.clone(),
        entropy: Arc::new(OsEntropy),
        hasher: Arc::new(Argon2idHasher::new(64, 1, 1).unwrap()),
        hash_concurrency: 1,
        config: TesseraConfig {
            token: TokenPolicy { algorithm: Algorithm::ES256, ..TokenPolicy::default() },
            ..TesseraConfig::default()
        },
        master_key: w.master.clone(),
    })
    .await;
    assert!(other.is_err());
}

#[tokio::test]
async fn token_wrong_master_key_refuses_to_start() {
    let w = World::new();
    drop(w.tessera(Algorithm::EdDSA).await);
    let thief = World { master: MasterKey::generate(&OsEntropy), ..w };
    let started = Tessera::new(TesseraParts {
        stores: Stores::single(thief.store.clone()),
        clock: thief.clock.clone(),
        entropy: Arc::new(OsEntropy),
        hasher: Arc::new(Argon2idHasher::new(64, 1, 1).unwrap()),
        hash_concurrency: 1,
        config: TesseraConfig::default(),
        master_key: thief.master.clone(),
    })
    .await;
    assert!(started.is_err());
}

#[tokio::test]
async fn token_password_change_kills_other_families_access_tokens_at_once() {
    let (_, t) = with_alice(Algorithm::EdDSA).await;
    let g = login(&t, None).await;
    let user = t.find_user_by_name("alice").await.unwrap();
    t.change_password(&user, PW, "a brand new passphrase", CurrentLogin::None).await.unwrap();
    assert!(matches!(t.verify_access_token(&g.access.token), Err(Error::InvalidToken("revoked"))));
}

#[tokio::test]
async fn token_logout_everywhere_then_immediate_login_works() {
    let (w, t) = with_alice(Algorithm::EdDSA).await;
    let before = login(&t, None).await;
    w.clock.advance(Duration::seconds(1));
    let same_second = login(&t, None).await;
    let user = t.find_user_by_name("alice").await.unwrap();
    t.log_out_everywhere(&user.id).await.unwrap();
    assert!(t.verify_access_token(&before.access.token).is_err(), "issued a second earlier");
    assert!(t.verify_access_token(&same_second.access.token).is_err(), "issued this second");
    let after = login(&t, None).await;
    assert!(t.verify_access_token(&after.access.token).is_ok(), "a new login right after works");
}

#[tokio::test]
async fn token_cached_verification_never_past_exp_and_still_revocable() {
    let (w, t) = with_alice(Algorithm::EdDSA).await;
    let g = login(&t, None).await;
    assert!(t.verify_access_token(&g.access.token).is_ok());
    assert!(t.verify_access_token(&g.access.token).is_ok(), "served from the cache");
    // Revocation is checked on every request, cached or not.
    t.revoke_token(&g.access.token, Some("access_token"), "tessera").await.unwrap();
    assert!(matches!(t.verify_access_token(&g.access.token), Err(Error::InvalidToken("revoked"))));

    let h = login(&t, None).await;
    assert!(t.verify_access_token(&h.access.token).is_ok());
    w.clock.advance(Duration::seconds(900 + 29));
    assert!(t.verify_access_token(&h.access.token).is_ok(), "inside the leeway");
    w.clock.advance(Duration::seconds(1));
    assert!(matches!(t.verify_access_token(&h.access.token), Err(Error::InvalidToken("expired"))));
}

#[tokio::test]
async fn token_cache_capacity_zero_verifies_every_presentation_in_full() {
    let w = World::new();
    let t = w.tessera_caching(Algorithm::EdDSA, 0).await;
    t.create_user("alice", PW, "read write admin").await.unwrap();
    let g = login(&t, None).await;
    for _ in 0..3 {
        assert!(t.verify_access_token(&g.access.token).is_ok());
    }
    t.tokens.verified.run_pending_tasks();
    assert_eq!(t.tokens.verified.entry_count(), 0, "nothing remembered");
    t.revoke_token(&g.access.token, Some("access_token"), "tessera").await.unwrap();
    assert!(matches!(t.verify_access_token(&g.access.token), Err(Error::InvalidToken("revoked"))));
}

#[tokio::test]
async fn token_cache_never_admits_a_forged_token() {
    let (_, t) = with_alice(Algorithm::EdDSA).await;
    let g = login(&t, None).await;
    // Change one character well inside the signature (the last one carries
    // only two bits, and may already be the replacement).
    let at = g.access.token.len() - 10;
    let original = g.access.token.as_bytes()[at];
    let replacement = if original == b'A' { "B" } else { "A" };
    let mut forged = g.access.token.clone();
    forged.replace_range(at..=at, replacement);
    assert_ne!(forged, g.access.token);
    for _ in 0..3 {
        assert!(t.verify_access_token(&forged).is_err());
    }
    assert!(t.verify_access_token(&g.access.token).is_ok());
}

#[tokio::test]
async fn token_verification_fails_closed_while_revocations_are_stale() {
    let (_, t) = with_alice(Algorithm::EdDSA).await;
    let g = login(&t, None).await;
    t.set_revocations_current(false);
    assert!(matches!(t.verify_access_token(&g.access.token), Err(Error::Store(_))));
    t.watch_revocations(std::time::Duration::from_secs(5)).await.unwrap();
    assert!(t.verify_access_token(&g.access.token).is_ok(), "a successful poll restores service");
}

/// Polls `check` (yielding to the follower task) until it holds.
async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..500 {
        if check() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    panic!("never: {what}");
}

#[tokio::test]
async fn feed_fails_closed_until_caught_up_and_applies_changes_from_other_nodes() {
    use crate::change::{Change, FeedEvent};
    let (w, t) = with_alice(Algorithm::EdDSA).await;
    let (t, other) = (Arc::new(t), w.tessera(Algorithm::EdDSA).await);
    let g = login(&t, None).await;
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    let follower = tokio::spawn({
        let t = Arc::clone(&t);
        async move { t.follow_feed(rx).await }
    });
    let verify = || t.verify_access_token(&g.access.token).map(|_| ());
    eventually("closed before the feed connects", || matches!(verify(), Err(Error::Store(_))))
        .await;
    assert!(t.check_ready().await.is_err(), "not ready while revocations may be missing");
    tx.send(FeedEvent::Connected).await.unwrap();
    eventually("open once caught up", || verify().is_ok()).await;

    // Another node revokes: its store write is shared, its announcement
    // reaches this node only through the feed (this node never polls here).
    other.revoke_token(&g.access.token, Some("access_token"), "tessera").await.unwrap();
    assert!(verify().is_ok(), "not yet told");
    let claims = other.verify_access_token(&login(&other, None).await.access.token).unwrap();
    let jti = t.verify_access_token(&g.access.token).unwrap().claims().jti.clone();
    let expires_at = Timestamp::from_unix(claims.claims().exp);
    tx.send(FeedEvent::Change(Change::TokenRevoked { jti, expires_at })).await.unwrap();
    eventually("revoked via the feed", || matches!(verify(), Err(Error::InvalidToken(_)))).await;

    // Cut, then back: the durable copy keeps it revoked after the resync.
    tx.send(FeedEvent::Lost).await.unwrap();
    eventually("closed while cut", || matches!(verify(), Err(Error::Store(_)))).await;
    tx.send(FeedEvent::Connected).await.unwrap();
    eventually("still revoked after catch-up", || matches!(verify(), Err(Error::InvalidToken(_))))
        .await;
    let fresh = login(&t, None).await;
    assert!(t.verify_access_token(&fresh.access.token).is_ok());
    drop(tx);
    follower.await.unwrap();
}

/// A Tessera on `store` with its own clock and access-token lifetime, as
/// another process sharing the store would be.
async fn process(w: &World, clock: Arc<ManualClock>, access_ttl: i64) -> Tessera {
    Tessera::new(TesseraParts {
        stores: Stores::single(w.store.clone()),
        clock,
        entropy: Arc::new(OsEntropy),
        hasher: Arc::new(Argon2idHasher::new(64, 1, 1).unwrap()),
        hash_concurrency: 1,
        config: TesseraConfig {
            token: TokenPolicy {
                issuer: "https://auth.test".into(),
                audience: "https://api.test".into(),
                access_ttl: Duration::seconds(access_ttl),
                ..TokenPolicy::default()
            },
            ..TesseraConfig::default()
        },
        master_key: w.master.clone(),
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn regression_revoked_token_comes_back_after_reload_within_leeway() {
    let w = World::new();
    let t = process(&w, w.clock.clone(), 5).await;
    t.create_user("alice", PW, "read").await.unwrap();
    let g = login(&t, None).await;
    t.revoke_token(&g.access.token, Some("access_token"), "tessera").await.unwrap();
    // Past `exp`, within the leeway: a verifier still accepts the token's
    // times, so its revocation must still be known, after any reload.
    w.clock.advance(Duration::seconds(5 + 20));
    for reader in [&t, &process(&w, w.clock.clone(), 5).await] {
        reader.reload_token_state().await.unwrap();
        assert!(
            matches!(reader.verify_access_token(&g.access.token), Err(Error::InvalidToken(_))),
            "a revoked token verified after a reload"
        );
    }
}

#[tokio::test]
async fn regression_clock_skew_undoes_revocations() {
    let w = World::new();
    let reader = process(&w, w.clock.clone(), 60).await;
    reader.create_user("alice", PW, "read").await.unwrap();
    let alice = reader.find_user_by_name("alice").await.unwrap();
    let (a, b) = (login(&reader, None).await, login(&reader, None).await);
    // The revoking process (a CLI, another node) runs 120 s behind.
    let behind = Arc::new(ManualClock::new(T0.minus(Duration::seconds(120))));
    let writer = process(&w, behind, 60).await;
    writer.revoke_token(a.refresh.secret.expose(), None, "tessera").await.unwrap();
    writer.log_out_everywhere(&alice.id).await.unwrap();
    w.clock.advance(Duration::seconds(30));
    for fresh in [&reader, &process(&w, w.clock.clone(), 60).await] {
        fresh.reload_token_state().await.unwrap();
        for g in [&a, &b] {
            assert!(
                fresh.verify_access_token(&g.access.token).is_err(),
                "a revocation by a process 120 s behind was dropped at reload"
            );
        }
    }
}

#[tokio::test]
async fn regression_revoke_during_store_outage_lies() {
    let (_, t) = with_alice(Algorithm::EdDSA).await;
    let g = login(&t, None).await;
    // Revocations from elsewhere are not known to be current (a feed cut, a
    // failed poll): the revoke must still be made durable, never a false Ok.
    t.set_revocations_current(false);
    t.revoke_token(&g.access.token, Some("access_token"), "tessera").await.unwrap();
    t.set_revocations_current(true);
    t.reload_token_state().await.unwrap();
    assert!(matches!(t.verify_access_token(&g.access.token), Err(Error::InvalidToken(_))));
}

#[tokio::test]
async fn introspection_answers_store_error_rather_than_guess_while_revocations_are_stale() {
    let (_, t) = with_alice(Algorithm::EdDSA).await;
    let g = login(&t, None).await;
    let caller = t.register_client("rs", true, "").await.unwrap();
    let secret = caller.1.unwrap();
    let caller = t.authenticate_client("rs", secret.expose()).await.unwrap();
    t.set_revocations_current(false);
    assert!(matches!(t.introspect(&g.access.token, &caller).await, Err(Error::Store(_))));
}
