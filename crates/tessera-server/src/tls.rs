//! TLS for the accept loop: rustls with the aws-lc-rs provider, TLS 1.3 and
//! 1.2, ALPN `h2` and `http/1.1`, no client certificates, no 0-RTT data
//! (early data could be replayed).

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Why a certificate or key could not be used. Its message is one line that
/// names the file and the reason, never key material.
#[derive(Debug)]
pub struct TlsError(String);

impl std::fmt::Display for TlsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TlsError {}

/// Reads a PEM certificate chain (leaf first) and its PEM private key
/// (PKCS#8, PKCS#1 or SEC1) and builds the server's TLS configuration.
/// Fails if either file is unreadable or holds nothing usable, or if the key
/// does not belong to the certificate.
pub fn load(cert_path: &Path, key_path: &Path) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let fail = |what: &str, path: &Path, why: &dyn std::fmt::Display| {
        TlsError(format!("{what} {}: {why}", path.display()))
    };
    let cert_pem =
        std::fs::read(cert_path).map_err(|e| fail("cannot read TLS certificate", cert_path, &e))?;
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| fail("invalid TLS certificate", cert_path, &e))?;
    if chain.is_empty() {
        return Err(fail("invalid TLS certificate", cert_path, &"no CERTIFICATE in the file"));
    }
    let key_pem = std::fs::read(key_path).map_err(|e| fail("cannot read TLS key", key_path, &e))?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| match e {
        pem::Error::NoItemsFound => {
            fail("invalid TLS key", key_path, &"no PRIVATE KEY in the file")
        }
        e => fail("invalid TLS key", key_path, &e),
    })?;
    config(chain, key).map_err(|e| {
        TlsError(format!(
            "TLS certificate {} and key {} are not usable together: {}",
            cert_path.display(),
            key_path.display(),
            e.0
        ))
    })
}

/// The server configuration for a DER certificate chain and its key.
pub fn config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    // The provider is named, not taken from the process default: with both
    // rustls back ends compiled in (a dependency may enable ring), the
    // default would be ambiguous.
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| TlsError(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| TlsError(e.to_string()))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_files_name_the_file_in_one_line() {
        let err = load(Path::new("/nonexistent/cert.pem"), Path::new("/nonexistent/key.pem"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("cannot read TLS certificate /nonexistent/cert.pem: "), "{err}");
        assert!(!err.contains('\n'));
    }

    #[test]
    fn garbage_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let cert = dir.path().join("cert.pem");
        let key = dir.path().join("key.pem");
        std::fs::write(&cert, "not a certificate\n").unwrap();
        std::fs::write(&key, "not a key\n").unwrap();
        let err = load(&cert, &key).unwrap_err().to_string();
        assert!(err.contains("no CERTIFICATE"), "{err}");
    }
}
