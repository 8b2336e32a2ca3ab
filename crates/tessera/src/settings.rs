//! Resolved settings: flags win over the environment (both via clap), which
//! win over the TOML file, which wins over the defaults.

use std::time::Duration as StdDuration;

use anyhow::{Context, Result, bail};
use tessera_core::csrf::OriginPolicy;
use tessera_core::device::DevicePolicy;
use tessera_core::password::{HashQueuePolicy, PasswordPolicy};
use tessera_core::refresh::RefreshPolicy;
use tessera_core::service::Registration;
use tessera_core::session::SessionPolicy;
use tessera_core::throttle::ThrottlePolicy;
use tessera_core::token::TokenPolicy;
use tessera_core::{Duration, TesseraConfig};
use tessera_server::ServerConfig;
use tessera_server::config::TrustedProxies;
use tessera_store::redis::RedisSettings;
use tessera_token::Algorithm;

use crate::cli::{RegistrationArg, SettingsArgs};

/// Every setting with its final value.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Listen address.
    pub listen: String,
    /// Store URL.
    pub store: String,
    /// Redis, when sessions and revocations are shared between nodes.
    pub redis: Option<RedisSettings>,
    /// Issuer URL.
    pub issuer: String,
    /// Core policies.
    pub core: TesseraConfig,
    /// HTTP settings.
    pub server: ServerConfig,
    /// Sweep period.
    pub sweep_interval: StdDuration,
    /// How often the store's revision is polled for revocations by other processes.
    pub revocation_poll: StdDuration,
    /// The master key as given, if it was (`TESSERA_MASTER_KEY`).
    pub master_key: Option<String>,
    /// Where the master key file lives (when no key is given directly).
    pub master_key_file: Option<std::path::PathBuf>,
    /// Argon2 concurrency.
    pub hash_concurrency: usize,
    /// Certificate and key for HTTPS; loaded by `serve` only.
    pub tls: Option<TlsFiles>,
}

/// `TESSERA_TLS_CERT` and `TESSERA_TLS_KEY`.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// PEM certificate chain, leaf first.
    pub cert: std::path::PathBuf,
    /// PEM private key.
    pub key: std::path::PathBuf,
}

/// Layers `args` (flags and environment) over the config file they name.
pub fn resolve(args: SettingsArgs) -> Result<Settings> {
    let file = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read config file {}", path.display()))?;
            toml::from_str::<SettingsArgs>(&text)
                .with_context(|| format!("invalid config file {}", path.display()))?
        }
        None => SettingsArgs::default(),
    };
    macro_rules! pick {
        ($field:ident, $default:expr) => {
            args.$field.or(file.$field).unwrap_or($default)
        };
    }
    let listen = pick!(listen, "127.0.0.1:8080".to_owned());
    let tls = match (args.tls_cert.or(file.tls_cert), args.tls_key.or(file.tls_key)) {
        (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
        (None, None) => None,
        _ => bail!("TESSERA_TLS_CERT and TESSERA_TLS_KEY must be set together"),
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let issuer = pick!(issuer, format!("{scheme}://{listen}")).trim_end_matches('/').to_owned();
    let origins_text = pick!(allowed_origins, origin_of(&issuer)?);
    let origins = OriginPolicy::new(origins_text.split(','))
        .map_err(|e| anyhow::anyhow!("TESSERA_ALLOWED_ORIGINS: {e}"))?;
    let idle = pick!(session_idle_ttl, 1800);
    let absolute = pick!(session_absolute_ttl, 43_200);
    if idle <= 0 || absolute <= 0 {
        bail!("session lifetimes must be positive seconds");
    }
    let positive = |name: &str, v: i64| {
        if v > 0 {
            Ok(v)
        } else {
            Err(anyhow::anyhow!("{name} must be a positive number of seconds"))
        }
    };
    let leeway = pick!(leeway, 30);
    if !(0..=60).contains(&leeway) {
        bail!("TESSERA_LEEWAY must be 0 to 60 seconds, got {leeway}");
    }
    let alg_name = pick!(signing_alg, "EdDSA".to_owned());
    let algorithm: Algorithm = alg_name.parse().map_err(|_| {
        anyhow::anyhow!(
            "TESSERA_SIGNING_ALG must be EdDSA, ES256, RS256 or HS256, got {alg_name:?}"
        )
    })?;
    let token = TokenPolicy {
        audience: pick!(audience, issuer.clone()),
        issuer: issuer.clone(),
        access_ttl: Duration::seconds(positive("TESSERA_ACCESS_TTL", pick!(access_ttl, 900))?),
        leeway: Duration::seconds(leeway),
        algorithm,
        rotation_interval: Duration::seconds(positive(
            "TESSERA_KEY_ROTATION_INTERVAL",
            pick!(key_rotation_interval, 30 * 86_400),
        )?),
        verified_cache_capacity: pick!(token_cache_capacity, 100_000),
    };
    let refresh = RefreshPolicy {
        family_ttl: Duration::seconds(positive(
            "TESSERA_REFRESH_TTL",
            pick!(refresh_ttl, 2_592_000),
        )?),
        arrival_tolerance: std::time::Duration::from_millis(pick!(
            refresh_arrival_tolerance_ms,
            100
        )),
    };
    if refresh.arrival_tolerance > std::time::Duration::from_secs(2) {
        bail!("TESSERA_REFRESH_ARRIVAL_TOLERANCE_MS must be at most 2000");
    }
    let registration = match pick!(registration, RegistrationArg::Open) {
        RegistrationArg::Open => Registration::Open,
        RegistrationArg::Closed => Registration::Closed,
    };
    let ipv6_prefix = pick!(login_ipv6_prefix, 64);
    if !(1..=128).contains(&ipv6_prefix) {
        bail!("TESSERA_LOGIN_IPV6_PREFIX must be 1 to 128 bits, got {ipv6_prefix}");
    }
    let hash_queue = pick!(hash_queue, 128);
    if hash_queue == 0 {
        bail!("TESSERA_HASH_QUEUE must be at least 1");
    }
    let core = TesseraConfig {
        password: PasswordPolicy { min_chars: pick!(password_min_length, 8) },
        session: SessionPolicy {
            idle_ttl: Duration::seconds(idle),
            absolute_ttl: Duration::seconds(absolute),
            data_limit: pick!(session_data_limit, 16 * 1024),
        },
        registration,
        refresh,
        token,
        throttle: ThrottlePolicy {
            max_failures: pick!(login_max_failures, 5).max(1),
            window: Duration::seconds(positive("TESSERA_LOGIN_WINDOW", pick!(login_window, 300))?),
            ipv6_prefix,
        },
        hash_queue: HashQueuePolicy { capacity: hash_queue },
        devices: DevicePolicy {
            max_logins_per_user: pick!(
                max_logins_per_user,
                DevicePolicy::default().max_logins_per_user
            ),
        },
    };
    if core.devices.max_logins_per_user == 0 {
        bail!("TESSERA_MAX_LOGINS_PER_USER must be at least 1");
    }
    let mut server = ServerConfig::new(origins);
    server.secure_cookies = !pick!(insecure_cookies, false);
    server.body_limit = pick!(body_limit, 64 * 1024);
    server.hsts = tls.is_some();
    server.transport.max_connections = pick!(max_connections, 10_000);
    if server.transport.max_connections == 0 {
        bail!("TESSERA_MAX_CONNECTIONS must be at least 1");
    }
    server.trusted_proxies = TrustedProxies::parse(&pick!(trusted_proxies, String::new()))
        .map_err(|e| anyhow::anyhow!("TESSERA_TRUSTED_PROXIES: {e}"))?;
    let store = pick!(store, "sqlite://tessera.db".to_owned());
    let master_key_file = args
        .master_key_file
        .or(file.master_key_file)
        .or_else(|| sqlite_path(&store).map(|p| format!("{p}.key").into()));
    let redis = args.redis_url.or(file.redis_url).map(|url| RedisSettings {
        url,
        prefix: args.redis_prefix.or(file.redis_prefix).unwrap_or_else(|| "tessera".to_owned()),
        idle_ttl: core.session.idle_ttl,
        absolute_ttl: core.session.absolute_ttl,
    });
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    Ok(Settings {
        master_key: args.master_key.or(file.master_key),
        master_key_file,
        store,
        redis,
        listen,
        issuer,
        core,
        server,
        sweep_interval: StdDuration::from_secs(pick!(sweep_interval, 60).max(1)),
        revocation_poll: StdDuration::from_millis(pick!(revocation_poll_ms, 100).max(10)),
        hash_concurrency: pick!(hash_concurrency, cpus).max(1),
        tls,
    })
}

/// The file path of a `sqlite://PATH` URL (without query parameters).
fn sqlite_path(url: &str) -> Option<String> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && !path.starts_with(':')).then(|| path.to_owned())
}

/// `scheme://host[:port]` of a URL.
fn origin_of(url: &str) -> Result<String> {
    let Some((scheme, rest)) = url.split_once("://") else {
        bail!("TESSERA_ISSUER must be an absolute URL, got {url:?}");
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    Ok(format!("{scheme}://{host}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn parse(args: &[&str]) -> SettingsArgs {
        crate::cli::Cli::parse_from(args.iter().copied().chain(["serve"])).settings
    }

    #[test]
    fn defaults_with_no_configuration() {
        let s = resolve(SettingsArgs::default()).unwrap();
        assert_eq!(s.listen, "127.0.0.1:8080");
        assert_eq!(s.store, "sqlite://tessera.db");
        assert_eq!(s.issuer, "http://127.0.0.1:8080");
        assert!(s.server.origins.allows("http://127.0.0.1:8080"));
        assert!(s.server.secure_cookies);
        assert_eq!(s.core.session.idle_ttl, Duration::seconds(1800));
        assert_eq!(s.core.token.audience, "http://127.0.0.1:8080");
        assert_eq!(s.master_key_file.as_deref(), Some(std::path::Path::new("tessera.db.key")));
    }

    #[test]
    fn leeway_over_sixty_and_unknown_alg_are_errors() {
        let too_lax = SettingsArgs { leeway: Some(61), ..Default::default() };
        assert!(resolve(too_lax).is_err());
        let none = SettingsArgs { signing_alg: Some("none".into()), ..Default::default() };
        assert!(resolve(none).is_err());
        let lower = SettingsArgs { signing_alg: Some("eddsa".into()), ..Default::default() };
        assert!(resolve(lower).is_err(), "algorithm names are exact");
    }

    #[test]
    fn refresh_arrival_tolerance_defaults_to_100_ms_and_is_capped() {
        let s = resolve(SettingsArgs::default()).unwrap();
        assert_eq!(s.core.refresh.arrival_tolerance, std::time::Duration::from_millis(100));
        let strict = parse(&["tessera", "--refresh-arrival-tolerance-ms", "0"]);
        assert_eq!(resolve(strict).unwrap().core.refresh.arrival_tolerance.as_millis(), 0);
        let window =
            SettingsArgs { refresh_arrival_tolerance_ms: Some(2001), ..Default::default() };
        assert!(resolve(window).is_err(), "no wider than the old race window");
    }

    #[test]
    fn flags_win_over_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.toml");
        std::fs::write(&path, "listen = \"0.0.0.0:9\"\nstore = \"memory\"\nsession_idle_ttl = 5\n")
            .unwrap();
        let args =
            parse(&["tessera", "--config", path.to_str().unwrap(), "--listen", "127.0.0.1:1"]);
        let s = resolve(args).unwrap();
        assert_eq!(s.listen, "127.0.0.1:1");
        assert_eq!(s.store, "memory");
        assert_eq!(s.core.session.idle_ttl, Duration::seconds(5));
    }

    #[test]
    fn throttle_prefix_and_hash_queue_from_file_flags_and_bounds() {
        let s = resolve(SettingsArgs::default()).unwrap();
        assert_eq!((s.core.throttle.ipv6_prefix, s.core.hash_queue.capacity), (64, 128));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.toml");
        std::fs::write(&path, "login_ipv6_prefix = 56\nhash_queue = 32\n").unwrap();
        let file = parse(&["tessera", "--config", path.to_str().unwrap()]);
        let s = resolve(file).unwrap();
        assert_eq!((s.core.throttle.ipv6_prefix, s.core.hash_queue.capacity), (56, 32));
        let flags = parse(&["tessera", "--login-ipv6-prefix", "48", "--hash-queue", "9"]);
        let s = resolve(flags).unwrap();
        assert_eq!((s.core.throttle.ipv6_prefix, s.core.hash_queue.capacity), (48, 9));
        for bad in [
            SettingsArgs { login_ipv6_prefix: Some(0), ..Default::default() },
            SettingsArgs { login_ipv6_prefix: Some(129), ..Default::default() },
            SettingsArgs { hash_queue: Some(0), ..Default::default() },
        ] {
            assert!(resolve(bad).is_err());
        }
    }

    #[test]
    fn unknown_file_key_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.toml");
        std::fs::write(&path, "lisen = \"x\"\n").unwrap();
        let args = parse(&["tessera", "--config", path.to_str().unwrap()]);
        assert!(resolve(args).is_err());
    }

    #[test]
    fn insecure_cookies_flag_parses_boolish() {
        assert_eq!(parse(&["tessera", "--insecure-cookies"]).insecure_cookies, Some(true));
        assert_eq!(parse(&["tessera", "--insecure-cookies=0"]).insecure_cookies, Some(false));
    }

    #[test]
    fn tls_pair_sets_https_issuer_and_hsts() {
        let s = resolve(SettingsArgs::default()).unwrap();
        assert!(s.tls.is_none() && !s.server.hsts);
        assert_eq!(s.server.transport.max_connections, 10_000);
        let args = parse(&[
            "tessera",
            "--tls-cert",
            "c.pem",
            "--tls-key",
            "k.pem",
            "--max-connections",
            "7",
        ]);
        let s = resolve(args).unwrap();
        assert_eq!(s.issuer, "https://127.0.0.1:8080");
        assert!(s.server.origins.allows("https://127.0.0.1:8080"));
        assert!(s.server.hsts);
        assert_eq!(s.server.transport.max_connections, 7);
        let tls = s.tls.unwrap();
        assert_eq!((tls.cert.to_str(), tls.key.to_str()), (Some("c.pem"), Some("k.pem")));
    }

    #[test]
    fn tls_cert_without_key_and_zero_connections_are_errors() {
        let half = SettingsArgs { tls_cert: Some("c.pem".into()), ..Default::default() };
        assert!(resolve(half).unwrap_err().to_string().contains("set together"));
        let zero = SettingsArgs { max_connections: Some(0), ..Default::default() };
        assert!(resolve(zero).is_err());
    }

    #[test]
    fn max_logins_per_user_defaults_to_100_parses_and_refuses_zero() {
        assert_eq!(resolve(SettingsArgs::default()).unwrap().core.devices.max_logins_per_user, 100);
        let s = resolve(parse(&["tessera", "--max-logins-per-user", "7"])).unwrap();
        assert_eq!(s.core.devices.max_logins_per_user, 7);
        let zero = SettingsArgs { max_logins_per_user: Some(0), ..Default::default() };
        assert!(resolve(zero).unwrap_err().to_string().contains("TESSERA_MAX_LOGINS_PER_USER"));
    }

    #[test]
    fn bad_origin_is_an_error() {
        let args =
            SettingsArgs { allowed_origins: Some("not-an-origin".into()), ..Default::default() };
        assert!(resolve(args).is_err());
    }
}
