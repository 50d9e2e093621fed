//! TLS for both listeners: a PEM certificate chain and key read from files
//! and made into a rustls acceptor (ring, safe default versions, ALPN
//! `http/1.1` only). Where the files come from is each room's business
//! (the portal's `[portal.https]`, the admin's configured or self-signed pair).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use tokio_rustls::TlsAcceptor;

/// A certificate or key file that cannot be used; each room wraps it in its
/// own error (`portal TLS: ...`, `admin TLS: ...`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct TlsFileError {
    /// The file at fault.
    pub path: PathBuf,
    /// What is wrong with it.
    pub message: String,
}

/// A ready acceptor and the chain's first (leaf) certificate, e.g. for its fingerprint.
pub struct Acceptor {
    /// Hand this to [`super::serve`].
    pub acceptor: TlsAcceptor,
    /// The leaf certificate (DER).
    pub leaf: CertificateDer<'static>,
}

/// The acceptor for the PEM pair `cert` (a chain, leaf first) and `key`.
pub fn acceptor(cert: &Path, key: &Path) -> Result<Acceptor, TlsFileError> {
    let certs = read_certs(cert)?;
    let key = read_pem(key, rustls_pemfile::private_key)?
        .ok_or_else(|| error(key, "no private key in the file"))?;
    let leaf = certs[0].clone();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| error(cert, &e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| {
            error(
                cert,
                &format!("certificate and key do not fit together: {e}"),
            )
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Acceptor {
        acceptor: TlsAcceptor::from(Arc::new(config)),
        leaf,
    })
}

/// The certificates in a PEM file: at least one.
pub fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsFileError> {
    let certs = read_pem(path, |r| {
        rustls_pemfile::certs(r).collect::<Result<Vec<_>, _>>()
    })?;
    if certs.is_empty() {
        return Err(error(path, "no certificate in the file"));
    }
    Ok(certs)
}

fn read_pem<T>(
    path: &Path,
    parse: impl FnOnce(&mut dyn std::io::BufRead) -> std::io::Result<T>,
) -> Result<T, TlsFileError> {
    let file = std::fs::File::open(path).map_err(|e| error(path, &e.to_string()))?;
    parse(&mut std::io::BufReader::new(file)).map_err(|e| error(path, &e.to_string()))
}

fn error(path: &Path, message: &str) -> TlsFileError {
    TlsFileError {
        path: path.to_owned(),
        message: message.to_owned(),
    }
}
