//! `tessera dev-cert`: a self-signed certificate for local HTTPS development.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, KeyPair, KeyUsagePurpose,
};
use tessera_core::{Clock, SystemClock};

/// The certificate's file name.
pub const CERT_FILE: &str = "dev-cert.pem";
/// The private key's file name.
pub const KEY_FILE: &str = "dev-key.pem";
/// Names the certificate is valid for.
const NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];
/// Validity, in days.
const DAYS: i64 = 365;

/// Writes `dev-cert.pem` and `dev-key.pem` (mode 0600) into `out` and prints
/// their paths and the settings that use them. Refuses to overwrite either.
pub fn run(out: &Path) -> Result<()> {
    std::fs::create_dir_all(out)
        .with_context(|| format!("cannot create directory {}", out.display()))?;
    let dir = out.canonicalize().with_context(|| format!("cannot resolve {}", out.display()))?;
    let (cert_path, key_path) = (dir.join(CERT_FILE), dir.join(KEY_FILE));
    for path in [&cert_path, &key_path] {
        if path.exists() {
            bail!("{} already exists; remove it or pass another --out", path.display());
        }
    }
    let (cert_pem, key_pem) = generate()?;
    // The key first, created with its final mode, so it is never readable
    // by others even for a moment; the certificate is public.
    write_new(&key_path, &key_pem, 0o600)?;
    if let Err(e) = write_new(&cert_path, &cert_pem, 0o644) {
        let _ = std::fs::remove_file(&key_path);
        return Err(e);
    }
    println!("certificate: {}", cert_path.display());
    println!("private key: {}", key_path.display());
    println!("Self-signed for {}, valid {DAYS} days; for development only.", NAMES.join(", "));
    println!("To serve HTTPS with it:");
    println!("export TESSERA_TLS_CERT={}", shell_quote(&cert_path));
    println!("export TESSERA_TLS_KEY={}", shell_quote(&key_path));
    Ok(())
}

/// A fresh P-256 key and a certificate for [`NAMES`], both PEM.
fn generate() -> Result<(String, String)> {
    let mut params = CertificateParams::new(NAMES.map(str::to_owned).to_vec())
        .context("cannot build the certificate")?;
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, "Tessera development certificate");
    params.distinguished_name = name;
    let now = time::OffsetDateTime::from_unix_timestamp(SystemClock.now().unix())
        .context("the system clock is out of range")?;
    // A day of slack for clocks that run behind.
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(DAYS);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let key = KeyPair::generate().context("cannot generate a key")?;
    let cert = params.self_signed(&key).context("cannot sign the certificate")?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// Creates `path` (never replacing a file) with `mode`, writes and syncs.
fn write_new(path: &PathBuf, contents: &str, mode: u32) -> Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(contents.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))
}

/// `path` as one shell word.
fn shell_quote(path: &Path) -> String {
    let text = path.display().to_string();
    if text.chars().all(|c| c.is_ascii_alphanumeric() || "/._-+:@%".contains(c)) {
        text
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_quote_leaves_plain_paths_alone() {
        assert_eq!(shell_quote(Path::new("/tmp/a-b_c.pem")), "/tmp/a-b_c.pem");
        assert_eq!(shell_quote(Path::new("/tmp/it's here")), r"'/tmp/it'\''s here'");
    }

    #[test]
    fn generated_pair_loads_as_a_tls_config() {
        let dir = tempfile::tempdir().unwrap();
        run(dir.path()).unwrap();
        let (cert, key) = (dir.path().join(CERT_FILE), dir.path().join(KEY_FILE));
        tessera_server::tls::load(&cert, &key).unwrap();
        let err = run(dir.path()).unwrap_err().to_string();
        assert!(err.contains("already exists"), "{err}");
    }
}
