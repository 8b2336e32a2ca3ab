//! The Argon2 bound of a hash pool: how many password verifications per
//! second a [`HashPool`] of N threads completes with the default parameters
//! (m=19456 KiB, t=2, p=1), with nothing else running. `bench/run.sh` runs it
//! pinned to the servers' CPU and compares login throughput with it.
//!
//! Usage: `cargo run --release -p tessera-core --example hash_rate -- [threads=1] [seconds=5]`
//! Prints one number: verifications per second.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tessera_core::OsEntropy;
use tessera_core::password::{Argon2idHasher, HashPool, HashQueuePolicy, PasswordCheck};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let threads: usize = args.next().map_or(1, |a| a.parse().expect("threads: a number"));
    let seconds: u64 = args.next().map_or(5, |a| a.parse().expect("seconds: a number"));
    let queue = HashQueuePolicy::default();
    let pool = Arc::new(HashPool::new(Arc::new(Argon2idHasher::default()), threads, queue));
    let hash = pool.hash("bench password 123".into(), &OsEntropy).await.expect("hash");
    // One warm-up verification per thread: the kept Argon2 memory is faulted in.
    let verify = |pool: Arc<HashPool>, hash| async move {
        let check = pool.verify("bench password 123".into(), hash).await.expect("verify");
        assert_eq!(check, PasswordCheck::Match);
    };
    let warm: Vec<_> =
        (0..threads).map(|_| tokio::spawn(verify(Arc::clone(&pool), hash.clone()))).collect();
    for w in warm {
        w.await.expect("warm-up");
    }
    // Keep 2 jobs per thread queued, so no thread ever waits for work.
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let start = Instant::now();
    let workers: Vec<_> = (0..threads * 2)
        .map(|_| {
            let (pool, hash) = (Arc::clone(&pool), hash.clone());
            tokio::spawn(async move {
                let mut done = 0_u64;
                while Instant::now() < deadline {
                    verify(Arc::clone(&pool), hash.clone()).await;
                    done += 1;
                }
                done
            })
        })
        .collect();
    let mut total = 0;
    for w in workers {
        total += w.await.expect("worker");
    }
    println!("{:.1}", total as f64 / start.elapsed().as_secs_f64());
}
