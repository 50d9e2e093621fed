//! The portal over HTTPS (RFC 8908 wants the captive API on https): rustls
//! with the certificate and key named in `[portal]` (read by [`crate::web::tls`]).

use tokio_rustls::TlsAcceptor;

use super::PortalError;
use crate::config::PortalTls;
use crate::web::tls::{self, TlsFileError};

/// A TLS acceptor for the portal's HTTPS listener.
pub fn acceptor(tls: &PortalTls) -> Result<TlsAcceptor, PortalError> {
    let made = tls::acceptor(&tls.cert, &tls.key)
        .map_err(|TlsFileError { path, message }| PortalError::Tls { path, message })?;
    Ok(made.acceptor)
}
