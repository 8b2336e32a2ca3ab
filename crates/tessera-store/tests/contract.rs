//! The store contract suite against every backend of this crate.
#![allow(clippy::unwrap_used, reason = "tests: a panic is how a test reports failure")]

mod memory {
    tessera_store::store_contract_suite!(async { tessera_store::open("memory").await.unwrap() });
}

mod sqlite {
    /// A fresh SQLite file per test; the directory is leaked on purpose so the
    /// file outlives the test body's borrow of it (the OS temp dir is cleaned
    /// by the machine).
    async fn fresh() -> tessera_core::store::Stores {
        let dir = tempfile::tempdir().unwrap().keep();
        let url = format!("sqlite://{}", dir.join("contract.db").display());
        tessera_store::open(&url).await.unwrap()
    }

    tessera_store::store_contract_suite!(fresh());
}

mod redis {
    //! Sessions in Redis (the machine's, from `TESSERA_TEST_REDIS_URL`, default
    //! `redis://127.0.0.1:6379`), the rest in memory; a fresh key prefix per test.
    use tessera_core::Duration;
    use tessera_store::redis::RedisSettings;

    pub fn settings() -> RedisSettings {
        RedisSettings {
            url: tessera_store::testing::redis_url(),
            prefix: tessera_store::testing::fresh_redis_prefix("tessera-test"),
            idle_ttl: Duration::seconds(1800),
            absolute_ttl: Duration::seconds(43_200),
        }
    }

    async fn fresh() -> tessera_core::store::Stores {
        let s = settings();
        let memory = tessera_store::open("memory").await.unwrap();
        tessera_store::with_redis(memory, &s, tessera_store::testing::record_key())
            .await
            .unwrap_or_else(|e| {
                panic!("Redis at {} (TESSERA_TEST_REDIS_URL) is needed: {e}", s.url)
            })
    }

    tessera_store::store_contract_suite!(fresh());
}

mod postgres {
    /// A fresh database per test, on the server named by
    /// `TESSERA_TEST_POSTGRES_URL` (see `tessera_store::testing`).
    async fn fresh() -> tessera_core::store::Stores {
        let url = tessera_store::testing::fresh_postgres_url().await;
        tessera_store::open(&url).await.unwrap()
    }

    tessera_store::store_contract_suite!(fresh());
}
