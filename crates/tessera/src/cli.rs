//! The command line: `tessera serve`, `tessera user …`.

use std::path::PathBuf;

use clap::builder::BoolishValueParser;
use clap::{Args, Parser, Subcommand, ValueEnum};
use serde::Deserialize;

/// Tessera: sessions and tokens, done properly, in one binary.
#[derive(Debug, Parser)]
#[command(name = "tessera", version, about)]
pub struct Cli {
    /// Settings shared by every command (file < environment < flags).
    #[command(flatten)]
    pub settings: SettingsArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (creates and migrates its store on first start).
    Serve,
    /// Manage user accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage OAuth clients.
    #[command(subcommand)]
    Client(ClientCommand),
    /// Manage the signing key ring.
    #[command(subcommand)]
    Key(KeyCommand),
    /// List or end browser sessions and token families.
    #[command(subcommand)]
    Session(SessionCommand),
    /// End every session, refresh family and access token of a user.
    LogoutAll {
        /// Username.
        name: String,
    },
    /// Write a self-signed development certificate for localhost, 127.0.0.1
    /// and ::1 (dev-cert.pem, and dev-key.pem with mode 0600). Never
    /// overwrites; not for production.
    DevCert {
        /// Directory to write into (created if missing).
        #[arg(long, default_value = ".")]
        out: PathBuf,
    },
}

/// `tessera client …`.
#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Register a client. A confidential client's secret is printed once.
    Add {
        /// Client id (1-64 of A-Z a-z 0-9 . _ -).
        id: String,
        /// Give the client a secret (HTTP Basic at /oauth/*).
        #[arg(long)]
        confidential: bool,
        /// Space-separated scopes the client may be granted.
        #[arg(long, default_value = "")]
        scope: String,
    },
    /// List clients: id, type, scope, created.
    List,
}

/// `tessera session …`.
#[derive(Debug, Subcommand)]
pub enum SessionCommand {
    /// List live sessions and families: id, kind, user, created, last seen,
    /// expires, address, user agent.
    List {
        /// Only this user's.
        #[arg(long)]
        user: Option<String>,
    },
    /// End one session or family by id, at once (its access tokens included).
    Revoke {
        /// Session or family id, as listed.
        id: String,
    },
}

/// `tessera key …`.
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// List keys: kid, algorithm, state, created, activated, retired.
    List,
    /// Rotate now: next becomes current, current is retired (still published
    /// until its tokens expire), a new next is created. Prints the new current kid.
    Rotate,
}

/// `tessera user …`.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user and print its id. Without --password-stdin a strong
    /// random password is generated and printed to stderr.
    Add {
        /// Username (1-64 of A-Z a-z 0-9 . _ @ -).
        name: String,
        /// Space-separated scopes to grant, e.g. "admin read".
        #[arg(long, default_value = "")]
        scope: String,
        /// Read the password from standard input (one trailing newline is removed).
        #[arg(long)]
        password_stdin: bool,
    },
    /// Disable a user: login refused, every session ended.
    Disable {
        /// Username.
        name: String,
    },
    /// Re-enable a disabled user.
    Enable {
        /// Username.
        name: String,
    },
    /// List users: id, username, scope, state, created.
    List,
}

/// Whether self-registration is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RegistrationArg {
    /// Anyone may `POST /v1/users`.
    Open,
    /// Only operators create accounts.
    Closed,
}

/// Every setting, as a flag with its `TESSERA_*` environment variable. Each is
/// optional here: unset ones fall back to the config file, then the default.
#[derive(Debug, Default, Args, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsArgs {
    /// TOML config file (keys are these flags' long names with `_`).
    #[arg(long, global = true, env = "TESSERA_CONFIG")]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// Address to serve on [default: 127.0.0.1:8080].
    #[arg(long, global = true, env = "TESSERA_LISTEN")]
    pub listen: Option<String>,
    /// `sqlite://PATH`, `postgres://…` or `memory` [default: sqlite://tessera.db].
    #[arg(long, global = true, env = "TESSERA_STORE")]
    pub store: Option<String>,
    /// Redis for shared sessions, login counters and revocation fan-out across
    /// nodes: `redis://…` or `redis+cluster://host:port,host:port`
    /// [default: unset, single node].
    #[arg(long, global = true, env = "TESSERA_REDIS_URL")]
    pub redis_url: Option<String>,
    /// Prefix of Tessera's Redis keys and channel [default: tessera].
    #[arg(long, global = true, env = "TESSERA_REDIS_PREFIX")]
    pub redis_prefix: Option<String>,
    /// Issuer URL, base of metadata URLs [default: http://<listen>].
    #[arg(long, global = true, env = "TESSERA_ISSUER")]
    pub issuer: Option<String>,
    /// Comma-separated origins allowed for credentialed unsafe requests [default: the issuer's origin].
    #[arg(long, global = true, env = "TESSERA_ALLOWED_ORIGINS")]
    pub allowed_origins: Option<String>,
    /// `aud` of access tokens [default: the issuer].
    #[arg(long, global = true, env = "TESSERA_AUDIENCE")]
    pub audience: Option<String>,
    /// `EdDSA`, `ES256`, `RS256` or `HS256` [default: EdDSA].
    #[arg(long, global = true, env = "TESSERA_SIGNING_ALG")]
    pub signing_alg: Option<String>,
    /// Access-token lifetime in seconds [default: 900].
    #[arg(long, global = true, env = "TESSERA_ACCESS_TTL")]
    pub access_ttl: Option<i64>,
    /// Refresh-family absolute lifetime in seconds [default: 2592000].
    #[arg(long, global = true, env = "TESSERA_REFRESH_TTL")]
    pub refresh_ttl: Option<i64>,
    /// How late a refresh request's arrival may be measured after the
    /// rotation that consumed its token and still count as concurrent, in
    /// milliseconds, at most 2000 [default: 100].
    #[arg(long, global = true, env = "TESSERA_REFRESH_ARRIVAL_TOLERANCE_MS")]
    pub refresh_arrival_tolerance_ms: Option<u64>,
    /// Clock leeway for exp/nbf/iat in seconds, at most 60 [default: 30].
    #[arg(long, global = true, env = "TESSERA_LEEWAY")]
    pub leeway: Option<i64>,
    /// Seconds a signing key signs before the next takes over [default: 2592000].
    #[arg(long, global = true, env = "TESSERA_KEY_ROTATION_INTERVAL")]
    pub key_rotation_interval: Option<i64>,
    /// Master key sealing the signing keys: 32 bytes, base64url or hex
    /// [default: read from (or created in) the master key file].
    #[arg(long, global = true, env = "TESSERA_MASTER_KEY", hide_env_values = true)]
    pub master_key: Option<String>,
    /// Master key file, created with mode 0600 at first start [default: <sqlite path>.key].
    #[arg(long, global = true, env = "TESSERA_MASTER_KEY_FILE")]
    pub master_key_file: Option<PathBuf>,
    /// Failed logins per account within the window before 429 [default: 5].
    #[arg(long, global = true, env = "TESSERA_LOGIN_MAX_FAILURES")]
    pub login_max_failures: Option<u32>,
    /// Login throttle window in seconds [default: 300].
    #[arg(long, global = true, env = "TESSERA_LOGIN_WINDOW")]
    pub login_window: Option<i64>,
    /// Leading bits of an IPv6 client address the per-address login throttle
    /// keys on, 1 to 128 [default: 64].
    #[arg(long, global = true, env = "TESSERA_LOGIN_IPV6_PREFIX")]
    pub login_ipv6_prefix: Option<u8>,
    /// Comma-separated addresses or CIDRs whose X-Forwarded-For is believed [default: none].
    #[arg(long, global = true, env = "TESSERA_TRUSTED_PROXIES")]
    pub trusted_proxies: Option<String>,
    /// Session idle timeout in seconds [default: 1800].
    #[arg(long, global = true, env = "TESSERA_SESSION_IDLE_TTL")]
    pub session_idle_ttl: Option<i64>,
    /// Session absolute lifetime in seconds [default: 43200].
    #[arg(long, global = true, env = "TESSERA_SESSION_ABSOLUTE_TTL")]
    pub session_absolute_ttl: Option<i64>,
    /// Largest session data object in bytes [default: 16384].
    #[arg(long, global = true, env = "TESSERA_SESSION_DATA_LIMIT")]
    pub session_data_limit: Option<usize>,
    /// Most live logins (browser sessions and refresh families together)
    /// per user; a login past it ends the user's oldest [default: 100].
    #[arg(long, global = true, env = "TESSERA_MAX_LOGINS_PER_USER")]
    pub max_logins_per_user: Option<usize>,
    /// Seconds between sweeps of expired sessions [default: 60].
    #[arg(long, global = true, env = "TESSERA_SWEEP_INTERVAL")]
    pub sweep_interval: Option<u64>,
    /// Milliseconds between polls for revocations made by other processes [default: 100].
    #[arg(long, global = true, env = "TESSERA_REVOCATION_POLL_MS")]
    pub revocation_poll_ms: Option<u64>,
    /// Largest request body in bytes [default: 65536].
    #[arg(long, global = true, env = "TESSERA_BODY_LIMIT")]
    pub body_limit: Option<usize>,
    /// Minimum password length in characters [default: 8].
    #[arg(long, global = true, env = "TESSERA_PASSWORD_MIN_LENGTH")]
    pub password_min_length: Option<usize>,
    /// Concurrent Argon2 hashes [default: number of CPUs].
    #[arg(long, global = true, env = "TESSERA_HASH_CONCURRENCY")]
    pub hash_concurrency: Option<usize>,
    /// Password hashes waiting or running at once; past it, 503 with
    /// Retry-After. One account or address gets a quarter [default: 128].
    #[arg(long, global = true, env = "TESSERA_HASH_QUEUE")]
    pub hash_queue: Option<usize>,
    /// Verified access tokens remembered per node; 0 verifies every
    /// presentation in full [default: 100000].
    #[arg(long, global = true, env = "TESSERA_TOKEN_CACHE_CAPACITY")]
    pub token_cache_capacity: Option<u64>,
    /// `open` or `closed` self-registration [default: open].
    #[arg(long, global = true, env = "TESSERA_REGISTRATION")]
    pub registration: Option<RegistrationArg>,
    /// Drop `Secure` and the cookie name prefixes: plain-HTTP development only.
    #[arg(long, global = true, env = "TESSERA_INSECURE_COOKIES", value_parser = BoolishValueParser::new(),
          num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub insecure_cookies: Option<bool>,
    /// PEM certificate chain: with --tls-key, the server speaks HTTPS itself.
    #[arg(long, global = true, env = "TESSERA_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, global = true, env = "TESSERA_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// Most connections open at once; then accepting pauses until one closes [default: 10000].
    #[arg(long, global = true, env = "TESSERA_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
}
