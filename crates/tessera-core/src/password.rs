//! Passwords: the policy, Argon2id hashing, and the pool of threads it runs on.
//!
//! Passwords are checked exactly as given: no truncation, no trimming, no case
//! folding or Unicode normalisation. Hashing is deliberately slow, so it runs
//! on [`HashPool`]'s own threads, at the lowest CPU priority: a login flood
//! queues there and neither occupies nor outruns the async workers that serve
//! `/v1/verify` and session checks (latency isolation).

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::{Arc, LazyLock, Mutex, mpsc};

use argon2::password_hash::{self, Output, ParamsString, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use subtle::ConstantTimeEq as _;
use tokio::sync::oneshot;

use crate::entropy::{self, Entropy};
use crate::error::{Error, Result};

/// Longest accepted password, in bytes (bounds the work an attacker can ask for).
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// The 10,000 most common passwords (SecLists), compiled in.
static COMMON_PASSWORDS: LazyLock<HashSet<&'static str>> =
    LazyLock::new(|| include_str!("password/common_passwords.txt").lines().collect());

/// What a new password must satisfy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PasswordPolicy {
    /// Minimum length in Unicode scalar values (default 8).
    pub min_chars: usize,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self { min_chars: 8 }
    }
}

impl PasswordPolicy {
    /// Accepts `password` or says, in words safe to show, why not.
    pub fn check(&self, password: &str) -> Result<()> {
        if password.len() > MAX_PASSWORD_BYTES {
            return Err(Error::InvalidRequest(format!(
                "password must be at most {MAX_PASSWORD_BYTES} bytes"
            )));
        }
        if password.chars().count() < self.min_chars {
            return Err(Error::InvalidRequest(format!(
                "password must be at least {} characters",
                self.min_chars
            )));
        }
        // Compared lower-cased so "Password" is refused like "password"; the
        // password itself is stored and verified exactly as given.
        if COMMON_PASSWORDS.contains(password.to_lowercase().as_str()) {
            return Err(Error::InvalidRequest("password is too common; choose another".to_owned()));
        }
        Ok(())
    }
}

/// A password hash in PHC string format. `Debug` shows only the algorithm.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    /// Wraps a PHC string read from a store.
    pub fn from_phc(s: String) -> Self {
        Self(s)
    }

    /// The PHC string.
    pub fn as_phc(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let alg = self.0.split('$').nth(1).unwrap_or("?");
        write!(f, "PasswordHash(${alg}$…)")
    }
}

/// Outcome of a password verification. An enum, not a bool, so a caller has to
/// name the case it acts on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PasswordCheck {
    /// The password matches the hash.
    Match,
    /// It does not (or the hash is unreadable).
    Mismatch,
}

/// The password hashing port (synchronous, CPU-bound).
pub trait PasswordHasher: Send + Sync + fmt::Debug {
    /// Hashes `password` with `salt`.
    fn hash(&self, password: &str, salt: &[u8; 16]) -> Result<PasswordHash>;
    /// Verifies `password` against `hash`, with the parameters the hash names.
    fn verify(&self, password: &str, hash: &PasswordHash) -> PasswordCheck;
}

/// Argon2id (RFC 9106), by default m=19456 KiB, t=2, p=1 (the OWASP minimum).
#[derive(Debug, Clone)]
pub struct Argon2idHasher {
    params: Params,
}

impl Argon2idHasher {
    /// A hasher with explicit cost parameters (memory in KiB).
    pub fn new(m_cost: u32, t_cost: u32, p_cost: u32) -> Result<Self> {
        let params = Params::new(m_cost, t_cost, p_cost, None)
            .map_err(|e| Error::Internal(format!("argon2 parameters: {e}")))?;
        Ok(Self { params })
    }

    fn argon2(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }
}

impl Default for Argon2idHasher {
    fn default() -> Self {
        Self { params: Params::new(19_456, 2, 1, None).expect("OWASP parameters are valid") }
    }
}

impl PasswordHasher for Argon2idHasher {
    fn hash(&self, password: &str, salt: &[u8; 16]) -> Result<PasswordHash> {
        let encoded_salt = SaltString::encode_b64(salt)
            .map_err(|e| Error::Internal(format!("argon2 salt: {e}")))?;
        let argon2 = self.argon2();
        let mut digest = [0_u8; Params::DEFAULT_OUTPUT_LEN];
        argon2_into(&argon2, password.as_bytes(), salt, &mut digest)
            .map_err(|e| Error::Internal(format!("argon2 hash: {e}")))?;
        let phc = password_hash::PasswordHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(&self.params)
                .map_err(|e| Error::Internal(format!("argon2 parameters: {e}")))?,
            salt: Some(encoded_salt.as_salt()),
            hash: Some(
                Output::new(&digest).map_err(|e| Error::Internal(format!("argon2 hash: {e}")))?,
            ),
        };
        Ok(PasswordHash(phc.to_string()))
    }

    fn verify(&self, password: &str, hash: &PasswordHash) -> PasswordCheck {
        match recompute(password, hash) {
            // Constant-time compare: timing must not tell how much matched.
            Some((computed, expected))
                if bool::from(computed.as_slice().ct_eq(expected.as_bytes())) =>
            {
                PasswordCheck::Match
            }
            _ => PasswordCheck::Mismatch,
        }
    }
}

/// The digest `password` gives under the algorithm, version, parameters and
/// salt that `hash` names, beside the digest `hash` holds; `None` when `hash`
/// is unreadable or names something other than Argon2.
fn recompute(password: &str, hash: &PasswordHash) -> Option<(Vec<u8>, Output)> {
    let parsed = password_hash::PasswordHash::new(&hash.0).ok()?;
    let algorithm = Algorithm::try_from(parsed.algorithm).ok()?;
    let version = parsed.version.map(Version::try_from).transpose().ok()?.unwrap_or_default();
    let params = Params::try_from(&parsed).ok()?;
    let expected = parsed.hash?;
    let mut salt = [0_u8; 64];
    let salt = parsed.salt?.decode_b64(&mut salt).ok()?;
    let mut computed = vec![0_u8; expected.len()];
    argon2_into(&Argon2::new(algorithm, version, params), password.as_bytes(), salt, &mut computed)
        .ok()?;
    Some((computed, expected))
}

thread_local! {
    /// This thread's Argon2 working memory, kept from one hash to the next.
    /// Allocating it per hash (19 MiB by default) costs its page faults and
    /// zeroing on every login, a large share of the hash on a busy core.
    static ARGON2_MEMORY: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// Argon2 of `password` and `salt` into `out`, in this thread's kept memory
/// (grown to what `argon2`'s parameters need, never shrunk).
fn argon2_into(
    argon2: &Argon2<'_>,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> argon2::Result<()> {
    ARGON2_MEMORY.with_borrow_mut(|memory| {
        let needed = argon2.params().block_count();
        if memory.len() < needed {
            memory.resize(needed, Block::default());
        }
        argon2.hash_password_into_with_memory(password, salt, out, &mut memory[..needed])
    })
}

/// One hashing job: runs on a pool thread and sends its own result.
type HashJob = Box<dyn FnOnce() + Send>;

/// How many hashes may wait at once, in all and per requester.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HashQueuePolicy {
    /// Hashes admitted at once, waiting or running (default 128). Past it a
    /// request is refused at once (`Overloaded`: 503 with `Retry-After`)
    /// rather than queued behind work that would make it wait for seconds.
    pub capacity: usize,
}

impl Default for HashQueuePolicy {
    fn default() -> Self {
        Self { capacity: 128 }
    }
}

impl HashQueuePolicy {
    /// Hashes one requester (an account, an address) may have admitted at
    /// once: a quarter of the capacity (at least one), so one flood fills
    /// at most a quarter of the queue and never starves the others, while
    /// many users behind one NAT or proxy address still log in together.
    pub fn per_requester(&self) -> usize {
        (self.capacity / 4).max(1)
    }
}

/// The hashes admitted and not yet finished, in all and per requester.
#[derive(Debug)]
struct Admission {
    policy: HashQueuePolicy,
    admitted: Mutex<Admitted>,
}

#[derive(Debug, Default)]
struct Admitted {
    total: usize,
    per_requester: HashMap<String, usize>,
}

impl Admission {
    fn lock(&self) -> std::sync::MutexGuard<'_, Admitted> {
        self.admitted.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A place in the queue for a hash done for `requesters`, or
    /// `Overloaded` when the queue or one requester's share is full.
    fn admit(self: &Arc<Self>, requesters: &[&str]) -> Result<Ticket> {
        let mut admitted = self.lock();
        if admitted.total >= self.policy.capacity {
            return Err(Error::Overloaded("password hash queue full"));
        }
        let share = self.policy.per_requester();
        if requesters.iter().any(|r| admitted.per_requester.get(*r).is_some_and(|n| *n >= share)) {
            return Err(Error::Overloaded("one requester's share of the hash queue is full"));
        }
        admitted.total += 1;
        for r in requesters {
            *admitted.per_requester.entry((*r).to_owned()).or_default() += 1;
        }
        let requesters = requesters.iter().map(|r| (*r).to_owned()).collect();
        Ok(Ticket { admission: Arc::clone(self), requesters })
    }
}

/// One admitted hash's place in the queue, given back when the job is done
/// with: run, skipped, panicked, or dropped with the pool.
struct Ticket {
    admission: Arc<Admission>,
    requesters: Vec<String>,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut admitted = self.admission.lock();
        admitted.total = admitted.total.saturating_sub(1);
        for r in &self.requesters {
            if let Some(n) = admitted.per_requester.get_mut(r) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    admitted.per_requester.remove(r);
                }
            }
        }
    }
}

/// Runs a [`PasswordHasher`] on its own threads, at most `size` hashes at a
/// time, so hashing never runs on (or starves) the async workers.
///
/// The threads run at the lowest CPU priority (`SCHED_IDLE` on Linux): when
/// the machine is busy, request handling comes first and logins wait; when it
/// is not, hashing gets every idle cycle. A server whose CPUs are saturated by
/// requests therefore admits logins only at a trickle: leave headroom. Each
/// thread keeps its Argon2 memory between hashes. The threads end when the
/// pool is dropped.
///
/// The queue is bounded ([`HashQueuePolicy`]): a hash past the bound, or past
/// its requester's share, is refused at once (`Overloaded`). A queued hash
/// whose caller has gone (a client that hung up) is skipped, not computed:
/// abandoned logins must not make the next ones wait.
#[derive(Debug)]
pub struct HashPool {
    hasher: Arc<dyn PasswordHasher>,
    jobs: mpsc::Sender<HashJob>,
    admission: Arc<Admission>,
}

impl HashPool {
    /// A pool of `size` hashing threads (at least one) and a queue bounded
    /// by `queue`.
    pub fn new(hasher: Arc<dyn PasswordHasher>, size: usize, queue: HashQueuePolicy) -> Self {
        let (jobs, waiting) = mpsc::channel::<HashJob>();
        let waiting = Arc::new(Mutex::new(waiting));
        for n in 0..size.max(1) {
            let waiting = Arc::clone(&waiting);
            let spawned = std::thread::Builder::new()
                .name(format!("tessera-hash-{n}"))
                .spawn(move || hash_thread(&waiting));
            if let Err(e) = spawned {
                tracing::error!(error = %e, "could not start a password hashing thread");
            }
        }
        let admission =
            Arc::new(Admission { policy: queue, admitted: Mutex::new(Admitted::default()) });
        Self { hasher, jobs, admission }
    }

    /// Hashes `password` with a fresh salt from `entropy`.
    pub async fn hash(&self, password: String, entropy: &dyn Entropy) -> Result<PasswordHash> {
        let salt = entropy::bytes::<16>(entropy);
        let hasher = Arc::clone(&self.hasher);
        self.run(&[], move || hasher.hash(&password, &salt)).await?
    }

    /// Verifies `password` against `hash`.
    pub async fn verify(&self, password: String, hash: PasswordHash) -> Result<PasswordCheck> {
        self.verify_for(&[], password, hash).await
    }

    /// Verifies `password` against `hash` for `requesters` (throttle keys:
    /// the account, the address), each held to its share of the queue.
    pub async fn verify_for(
        &self,
        requesters: &[&str],
        password: String,
        hash: PasswordHash,
    ) -> Result<PasswordCheck> {
        let hasher = Arc::clone(&self.hasher);
        self.run(requesters, move || hasher.verify(&password, &hash)).await
    }

    /// Queues `job` (or refuses it, before queueing, when the queue is
    /// full); its result. Dropping the returned future abandons the job.
    fn run<T, F>(&self, requesters: &[&str], job: F) -> impl Future<Output = Result<T>> + use<T, F>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let queued = self.admission.admit(requesters).and_then(|ticket| {
            let (done, result) = oneshot::channel();
            let job: HashJob = Box::new(move || {
                // Its caller has gone: nobody would read the answer (the
                // place is given back as the job is dropped).
                if done.is_closed() {
                    return;
                }
                let answer = job();
                // The place is free before the caller hears back.
                drop(ticket);
                let _ = done.send(answer);
            });
            self.jobs.send(job).map_err(|_| Error::Internal("hash pool closed".to_owned()))?;
            Ok(result)
        });
        async move { queued?.await.map_err(|_| Error::Internal("hash task failed".to_owned())) }
    }
}

/// A pool thread: lowers its own priority, then runs jobs until the pool is
/// dropped. A job that panics is caught, so one bad hash cannot shrink the pool
/// (its caller sees "hash task failed").
fn hash_thread(waiting: &Mutex<mpsc::Receiver<HashJob>>) {
    lower_priority();
    loop {
        let next = match waiting.lock() {
            Ok(queue) => queue.recv(),
            Err(_) => return,
        };
        let Ok(job) = next else { return };
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
    }
}

/// `SCHED_IDLE` for the calling thread: the scheduler runs it only on CPU time
/// that request handling leaves over, and a woken request handler preempts it
/// at once (latency isolation; nice 19 alone measured a 4.7× `/v1/verify` p99
/// under a login flood, because the kernel lets the running hash finish its
/// time slice).
#[cfg(target_os = "linux")]
fn lower_priority() {
    use thread_priority::{
        NormalThreadSchedulePolicy, ThreadPriority, ThreadSchedulePolicy,
        set_thread_priority_and_policy, thread_native_id,
    };
    let idle = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle);
    if let Err(e) = set_thread_priority_and_policy(thread_native_id(), ThreadPriority::Min, idle) {
        tracing::warn!(error = ?e, "could not lower the password hashing thread's priority");
    }
}

/// Elsewhere hashing keeps the default priority.
#[cfg(not(target_os = "linux"))]
fn lower_priority() {}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::OsEntropy;

    fn cheap() -> Argon2idHasher {
        Argon2idHasher::new(64, 1, 1).unwrap()
    }

    #[test]
    fn policy_short_password_rejected() {
        assert!(PasswordPolicy::default().check("Tr0ub4!").is_err());
        assert!(PasswordPolicy { min_chars: 12 }.check("Tr0ub4dor&3x").is_ok());
        assert!(PasswordPolicy { min_chars: 13 }.check("Tr0ub4dor&3x").is_err());
    }

    #[test]
    fn policy_counts_characters_not_bytes() {
        // Eight characters, 24 bytes.
        assert!(PasswordPolicy::default().check("日本語のパスワ").is_err());
        assert!(PasswordPolicy::default().check("日本語のパスワー").is_ok());
    }

    #[test]
    fn policy_over_1024_bytes_rejected_at_1024_accepted() {
        let p = PasswordPolicy::default();
        assert!(p.check(&"x7".repeat(512)).is_ok());
        assert!(p.check(&format!("{}y", "x7".repeat(512))).is_err());
    }

    #[test]
    fn policy_common_passwords_rejected_in_any_case() {
        let p = PasswordPolicy::default();
        for pw in ["password", "Password", "12345678", "qwertyuiop", "iloveyou"] {
            assert!(p.check(pw).is_err(), "{pw}");
        }
        assert!(COMMON_PASSWORDS.len() >= 9_000, "list has {}", COMMON_PASSWORDS.len());
    }

    #[test]
    fn argon2id_default_params_meet_owasp_minimum() {
        let h = Argon2idHasher::default().hash("correct horse", &[7; 16]).unwrap();
        assert!(h.as_phc().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{}", h.as_phc());
    }

    #[test]
    fn argon2id_verify_exact_password_only() {
        let h = cheap().hash("Pässwörd ", &[1; 16]).unwrap();
        assert_eq!(cheap().verify("Pässwörd ", &h), PasswordCheck::Match);
        assert_eq!(cheap().verify("Pässwörd", &h), PasswordCheck::Mismatch);
        assert_eq!(cheap().verify("pässwörd ", &h), PasswordCheck::Mismatch);
    }

    #[test]
    fn argon2id_no_truncation_of_long_passwords() {
        let long = "a".repeat(1000);
        let h = cheap().hash(&long, &[2; 16]).unwrap();
        assert_eq!(cheap().verify(&format!("{long}b"), &h), PasswordCheck::Mismatch);
        assert_eq!(cheap().verify(&long[..999], &h), PasswordCheck::Mismatch);
    }

    #[test]
    fn argon2id_garbage_hash_is_mismatch_not_panic() {
        let junk = PasswordHash::from_phc("not a phc".into());
        assert_eq!(cheap().verify("x", &junk), PasswordCheck::Mismatch);
    }

    #[test]
    fn password_hash_debug_hides_digest() {
        let h = cheap().hash("secret-pass", &[3; 16]).unwrap();
        assert_eq!(format!("{h:?}"), "PasswordHash($argon2id$…)");
    }

    #[test]
    fn argon2id_hash_matches_the_argon2_crates_own_phc() {
        use argon2::password_hash::PasswordHasher as _;
        let salt = [9_u8; 16];
        let ours = Argon2idHasher::new(256, 2, 1).unwrap().hash("same password", &salt).unwrap();
        let theirs =
            Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::new(256, 2, 1, None).unwrap())
                .hash_password(b"same password", &SaltString::encode_b64(&salt).unwrap())
                .unwrap()
                .to_string();
        assert_eq!(ours.as_phc(), theirs);
    }

    #[test]
    fn argon2_verify_honours_the_hashs_own_parameters_and_variant() {
        use argon2::password_hash::PasswordHasher as _;
        let salt = SaltString::encode_b64(&[4; 16]).unwrap();
        for algorithm in [Algorithm::Argon2i, Algorithm::Argon2d, Algorithm::Argon2id] {
            let old =
                Argon2::new(algorithm, Version::V0x10, Params::new(128, 3, 2, Some(24)).unwrap())
                    .hash_password(b"old password", &salt)
                    .unwrap()
                    .to_string();
            let old = PasswordHash::from_phc(old);
            assert_eq!(cheap().verify("old password", &old), PasswordCheck::Match, "{old:?}");
            assert_eq!(cheap().verify("old passwore", &old), PasswordCheck::Mismatch, "{old:?}");
        }
    }

    #[test]
    fn argon2id_verify_refuses_other_algorithms_and_missing_parts() {
        for phc in [
            "$pbkdf2-sha256$i=1000$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
            "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ",
            "$argon2id$v=19$m=64,t=1,p=1",
            "$argon2id$v=99$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
        ] {
            assert_eq!(
                cheap().verify("x", &PasswordHash::from_phc(phc.into())),
                PasswordCheck::Mismatch,
                "{phc}"
            );
        }
    }

    #[test]
    fn argon2_memory_is_kept_between_hashes_on_a_thread() {
        std::thread::spawn(|| {
            Argon2idHasher::new(512, 1, 1).unwrap().hash("first one", &[1; 16]).unwrap();
            let kept = ARGON2_MEMORY.with_borrow(|m| m.as_ptr() as usize);
            let h = Argon2idHasher::new(256, 1, 1).unwrap().hash("second one", &[2; 16]).unwrap();
            assert_eq!(ARGON2_MEMORY.with_borrow(|m| (m.as_ptr() as usize, m.len())), (kept, 512));
            assert_eq!(cheap().verify("second one", &h), PasswordCheck::Match);
        })
        .join()
        .unwrap();
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn hash_thread_runs_at_idle_priority() {
        use thread_priority::{
            NormalThreadSchedulePolicy, ThreadSchedulePolicy, thread_schedule_policy,
        };
        let policy = std::thread::spawn(|| {
            lower_priority();
            thread_schedule_policy().unwrap()
        })
        .join()
        .unwrap();
        assert_eq!(policy, ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle));
    }

    #[derive(Debug)]
    struct Exploding;
    impl PasswordHasher for Exploding {
        fn hash(&self, password: &str, _: &[u8; 16]) -> Result<PasswordHash> {
            assert!(password != "boom", "a hasher bug");
            Ok(PasswordHash::from_phc(password.to_owned()))
        }
        fn verify(&self, _: &str, _: &PasswordHash) -> PasswordCheck {
            PasswordCheck::Mismatch
        }
    }

    #[tokio::test]
    async fn hash_pool_survives_a_panicking_job() {
        let pool = HashPool::new(Arc::new(Exploding), 1, HashQueuePolicy::default());
        assert!(pool.hash("boom".into(), &OsEntropy).await.is_err());
        assert_eq!(pool.hash("fine".into(), &OsEntropy).await.unwrap().as_phc(), "fine");
    }

    /// A pool of one thread, held inside a job until `release` is sent.
    fn held_pool(capacity: usize) -> (HashPool, std::sync::mpsc::Sender<()>) {
        let pool = HashPool::new(Arc::new(cheap()), 1, HashQueuePolicy { capacity });
        let (entered, inside) = std::sync::mpsc::channel();
        let (release, released) = std::sync::mpsc::channel::<()>();
        // Its caller stays, or the job would be skipped.
        tokio::spawn(pool.run(&[], move || {
            entered.send(()).unwrap();
            released.recv().unwrap();
        }));
        inside.recv().unwrap();
        (pool, release)
    }

    fn counting(ran: &Arc<AtomicUsize>) -> impl FnOnce() + Send + 'static {
        let ran = Arc::clone(ran);
        move || {
            ran.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Issue 12 item 8: 300 logins opened and dropped made a real login wait
    /// 5 s, because every abandoned hash was still computed.
    #[tokio::test]
    async fn regression_unbounded_hash_queue_hashes_for_clients_that_left() {
        let (pool, release) = held_pool(64);
        let ran = Arc::new(AtomicUsize::new(0));
        // Queued behind the held thread; their callers hang up at once.
        for _ in 0..40 {
            drop(pool.run(&[], counting(&ran)));
        }
        let last = pool.run(&[], counting(&ran));
        release.send(()).unwrap();
        last.await.unwrap();
        // One thread, first in first out: every abandoned job came and went.
        assert_eq!(ran.load(Ordering::SeqCst), 1, "only the waiting caller's hash ran");
    }

    /// Issue 12 item 8: the queue is bounded, and one requester (an
    /// account, an address) gets only its share of it.
    #[tokio::test]
    async fn regression_unbounded_hash_queue_sheds_when_full_and_per_requester() {
        let (pool, release) = held_pool(8);
        let ran = Arc::new(AtomicUsize::new(0));
        let mut waiting =
            vec![pool.run(&["a:x"], counting(&ran)), pool.run(&["a:x"], counting(&ran))];
        let over_share = pool.run(&["u:y", "a:x"], counting(&ran)).await;
        assert!(matches!(over_share, Err(Error::Overloaded(_))), "{over_share:?}");
        // Others still get in, up to the whole capacity (the held job is one).
        for i in 0..5 {
            waiting.push(pool.run(&[&format!("a:{i}")], counting(&ran)));
        }
        let full = pool.run(&["a:fresh"], counting(&ran)).await;
        assert!(matches!(full, Err(Error::Overloaded(_))), "{full:?}");
        release.send(()).unwrap();
        for w in waiting {
            w.await.unwrap();
        }
        assert_eq!(ran.load(Ordering::SeqCst), 7);
        // Every place was given back.
        pool.run(&["a:x"], counting(&ran)).await.unwrap();
        assert_eq!(pool.admission.lock().total, 0);
        assert!(pool.admission.lock().per_requester.is_empty());
    }

    #[tokio::test]
    async fn hash_pool_roundtrip() {
        let pool = HashPool::new(Arc::new(cheap()), 2, HashQueuePolicy::default());
        let h = pool.hash("hunter2hunter2".into(), &OsEntropy).await.unwrap();
        assert_eq!(pool.verify("hunter2hunter2".into(), h).await.unwrap(), PasswordCheck::Match);
    }
}
