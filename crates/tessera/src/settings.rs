//! Resolved settings: flags win over the environment (both via clap), which
//! win over the TOML file, which wins over the defaults.

use std::time::Duration as StdDuration;

use anyhow::{Context, Result, bail};
use tessera_core::csrf::OriginPolicy;
use tessera_core::password::PasswordPolicy;
use tessera_core::service::Registration;
use tessera_core::session::SessionPolicy;
use tessera_core::{Duration, TesseraConfig};
use tessera_server::ServerConfig;

use crate::cli::{RegistrationArg, SettingsArgs};

/// Every setting with its final value.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Listen address.
    pub listen: String,
    /// Store URL.
    pub store: String,
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
    /// Argon2 concurrency.
    pub hash_concurrency: usize,
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
    let issuer = pick!(issuer, format!("http://{listen}"))
        .trim_end_matches('/')
        .to_owned();
    let origins_text = pick!(allowed_origins, origin_of(&issuer)?);
    let origins = OriginPolicy::new(origins_text.split(','))
        .map_err(|e| anyhow::anyhow!("TESSERA_ALLOWED_ORIGINS: {e}"))?;
    let idle = pick!(session_idle_ttl, 1800);
    let absolute = pick!(session_absolute_ttl, 43_200);
    if idle <= 0 || absolute <= 0 {
        bail!("session lifetimes must be positive seconds");
    }
    let registration = match pick!(registration, RegistrationArg::Open) {
        RegistrationArg::Open => Registration::Open,
        RegistrationArg::Closed => Registration::Closed,
    };
    let core = TesseraConfig {
        password: PasswordPolicy {
            min_chars: pick!(password_min_length, 8),
        },
        session: SessionPolicy {
            idle_ttl: Duration::seconds(idle),
            absolute_ttl: Duration::seconds(absolute),
            data_limit: pick!(session_data_limit, 16 * 1024),
        },
        registration,
    };
    let mut server = ServerConfig::new(origins);
    server.secure_cookies = !pick!(insecure_cookies, false);
    server.body_limit = pick!(body_limit, 64 * 1024);
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    Ok(Settings {
        store: pick!(store, "sqlite://tessera.db".to_owned()),
        listen,
        issuer,
        core,
        server,
        sweep_interval: StdDuration::from_secs(pick!(sweep_interval, 60).max(1)),
        revocation_poll: StdDuration::from_millis(pick!(revocation_poll_ms, 100).max(10)),
        hash_concurrency: pick!(hash_concurrency, cpus).max(1),
    })
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
    }

    #[test]
    fn flags_win_over_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.toml");
        std::fs::write(
            &path,
            "listen = \"0.0.0.0:9\"\nstore = \"memory\"\nsession_idle_ttl = 5\n",
        )
        .unwrap();
        let args = parse(&[
            "tessera",
            "--config",
            path.to_str().unwrap(),
            "--listen",
            "127.0.0.1:1",
        ]);
        let s = resolve(args).unwrap();
        assert_eq!(s.listen, "127.0.0.1:1");
        assert_eq!(s.store, "memory");
        assert_eq!(s.core.session.idle_ttl, Duration::seconds(5));
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
        assert_eq!(
            parse(&["tessera", "--insecure-cookies"]).insecure_cookies,
            Some(true)
        );
        assert_eq!(
            parse(&["tessera", "--insecure-cookies=0"]).insecure_cookies,
            Some(false)
        );
    }

    #[test]
    fn bad_origin_is_an_error() {
        let args = SettingsArgs {
            allowed_origins: Some("not-an-origin".into()),
            ..Default::default()
        };
        assert!(resolve(args).is_err());
    }
}
