//! Unit tests of the login cap on the memory store with a manual clock.

use std::sync::Arc;

use super::*;
use crate::clock::{Duration, ManualClock};
use crate::memory::MemoryStore;
use crate::password::Argon2idHasher;
use crate::refresh::FamilyKind;
use crate::service::{TesseraConfig, TesseraParts};
use crate::session::{ClientInfo, IssuedSession};
use crate::store::Stores;
use crate::token::TokenGrant;
use crate::user::User;
use crate::{OsEntropy, Tessera};

const T0: Timestamp = Timestamp::from_unix(1_790_000_000);
const PW: &str = "correct horse battery";

async fn setup(cap: usize) -> (Arc<ManualClock>, Arc<Tessera>, User) {
    let clock = Arc::new(ManualClock::new(T0));
    let t = Tessera::new(TesseraParts {
        stores: Stores::single(Arc::new(MemoryStore::new())),
        clock: clock.clone(),
        entropy: Arc::new(OsEntropy),
        hasher: Arc::new(Argon2idHasher::new(64, 1, 1).unwrap()),
        hash_concurrency: 2,
        master_key: crate::master_key::MasterKey::generate(&OsEntropy),
        config: TesseraConfig {
            devices: DevicePolicy { max_logins_per_user: cap },
            // The throttle counts logins in flight (at most `max_failures`
            // at once per account); these tests are about the cap.
            throttle: crate::throttle::ThrottlePolicy {
                max_failures: 1000,
                ..crate::throttle::ThrottlePolicy::default()
            },
            ..TesseraConfig::default()
        },
    })
    .await
    .unwrap();
    let user = t.create_user("alice", PW, "read").await.unwrap();
    (clock, Arc::new(t), user)
}

async fn session(t: &Tessera, user: &User) -> IssuedSession {
    t.start_session(user, ClientInfo::default(), None).await.unwrap()
}

async fn token_login(t: &Tessera) -> TokenGrant {
    let (_, g) = t
        .login_for_tokens("alice", PW, None, None, FamilyKind::Token, ClientInfo::default())
        .await
        .unwrap();
    g
}

async fn live(t: &Tessera, user: &User) -> usize {
    t.list_devices(&user.id, CurrentLogin::None).await.unwrap().len()
}

#[tokio::test]
async fn regression_unbounded_sessions_per_user() {
    // Before the cap, 150 logins left 150 live sessions.
    let (_, t, user) = setup(DevicePolicy::default().max_logins_per_user).await;
    for _ in 0..150 {
        session(&t, &user).await;
    }
    assert_eq!(live(&t, &user).await, 100);
}

#[tokio::test]
async fn login_cap_past_cap_ends_oldest_session_newest_live() {
    let (clock, t, user) = setup(3).await;
    let mut issued = Vec::new();
    for _ in 0..4 {
        issued.push(session(&t, &user).await);
        clock.advance(Duration::seconds(1));
    }
    assert!(matches!(
        t.resume_session(issued[0].secret.expose()).await,
        Err(Error::Unauthorized(_))
    ));
    for s in &issued[1..] {
        t.resume_session(s.secret.expose()).await.unwrap();
    }
    assert_eq!(live(&t, &user).await, 3);
}

#[tokio::test]
async fn login_cap_counts_families_with_sessions_oldest_family_revoked_tokens_dead() {
    let (clock, t, user) = setup(2).await;
    let first = token_login(&t).await;
    clock.advance(Duration::seconds(1));
    let second = session(&t, &user).await;
    clock.advance(Duration::seconds(1));
    let third = token_login(&t).await;
    // The oldest login (a token family) ended: its refresh token and its
    // access token are refused at once.
    let refresh =
        t.refresh_tokens(first.refresh.secret.expose(), "tessera", None, t.clock().moment()).await;
    assert!(matches!(refresh, Err(Error::InvalidGrant(_))), "{refresh:?}");
    assert!(t.verify_access_token(&first.access.token).is_err());
    t.resume_session(second.secret.expose()).await.unwrap();
    t.verify_access_token(&third.access.token).unwrap();
    assert_eq!(live(&t, &user).await, 2);
}

#[tokio::test]
async fn login_cap_new_login_in_same_second_is_never_the_one_ended() {
    // Logins within one second tie on login time; the new one is spared
    // whatever its id, so a quick script's latest login always works.
    let (_, t, user) = setup(1).await;
    for _ in 0..20 {
        let s = session(&t, &user).await;
        t.resume_session(s.secret.expose()).await.unwrap();
        assert_eq!(live(&t, &user).await, 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn login_cap_fifty_concurrent_logins_leave_at_most_cap() {
    let (_, t, user) = setup(3).await;
    let start = Arc::new(tokio::sync::Barrier::new(50));
    let logins: Vec<_> = (0..50)
        .map(|i| {
            let (t, user, start) = (t.clone(), user.clone(), start.clone());
            tokio::spawn(async move {
                start.wait().await;
                if i % 2 == 0 {
                    t.start_session(&user, ClientInfo::default(), None).await.map(drop)
                } else {
                    t.login_for_tokens(
                        "alice",
                        PW,
                        None,
                        None,
                        FamilyKind::Token,
                        ClientInfo::default(),
                    )
                    .await
                    .map(drop)
                }
            })
        })
        .collect();
    for login in logins {
        login.await.unwrap().unwrap();
    }
    let n = live(&t, &user).await;
    // At most the cap (see the module docs: exactly bounded, no slack).
    assert!(n <= 3, "{n} live logins after 50 concurrent, cap 3");
}
