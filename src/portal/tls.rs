//! The portal over HTTPS (RFC 8908 wants the captive API on https): rustls
//! with the certificate and key named in `[portal]`.

use std::path::Path;
use std::sync::Arc;

use tokio_rustls::TlsAcceptor;

use super::PortalError;
use crate::config::PortalTls;

/// A TLS acceptor for the portal's HTTPS listener.
pub fn acceptor(tls: &PortalTls) -> Result<TlsAcceptor, PortalError> {
    let certs = read_pem(&tls.cert, |r| {
        rustls_pemfile::certs(r).collect::<Result<Vec<_>, _>>()
    })?;
    if certs.is_empty() {
        return Err(tls_error(&tls.cert, "no certificate in the file"));
    }
    let key = read_pem(&tls.key, rustls_pemfile::private_key)?
        .ok_or_else(|| tls_error(&tls.key, "no private key in the file"))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_error(&tls.cert, &e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| {
            tls_error(
                &tls.cert,
                &format!("certificate and key do not fit together: {e}"),
            )
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

fn read_pem<T>(
    path: &Path,
    parse: impl FnOnce(&mut dyn std::io::BufRead) -> std::io::Result<T>,
) -> Result<T, PortalError> {
    let file = std::fs::File::open(path).map_err(|e| tls_error(path, &e.to_string()))?;
    parse(&mut std::io::BufReader::new(file)).map_err(|e| tls_error(path, &e.to_string()))
}

fn tls_error(path: &Path, message: &str) -> PortalError {
    PortalError::Tls {
        path: path.to_owned(),
        message: message.to_owned(),
    }
}
