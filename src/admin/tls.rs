//! The admin listener's certificate: the PEM pair named in `[admin]`
//! (`tls_cert`, `tls_key`), or else a self-signed one ([`crate::web::cert`])
//! kept in the store directory (`admin-cert.pem`, `admin-key.pem` mode
//! 0600), so its fingerprint stays the same across restarts and admins can
//! pin it.

use std::path::PathBuf;

use tokio_rustls::TlsAcceptor;
use tracing::info;

use super::core::AdminError;
use crate::config::Config;
use crate::web::cert::{ensure_self_signed, file_fingerprint, sha256_fingerprint};
use crate::web::tls::{self, TlsFileError};

/// The self-signed certificate's file name in the store directory.
pub const SELF_SIGNED_CERT: &str = "admin-cert.pem";
/// Its key's file name (mode 0600).
pub const SELF_SIGNED_KEY: &str = "admin-key.pem";

/// A TLS acceptor for the admin listener and its certificate's SHA-256
/// fingerprint (also logged, so the journal shows what to pin).
pub fn acceptor(config: &Config) -> Result<(TlsAcceptor, String), AdminError> {
    let (cert_path, key_path) = pair(config)?;
    let made = tls::acceptor(&cert_path, &key_path).map_err(from_web)?;
    let fingerprint = sha256_fingerprint(&made.leaf);
    info!(cert = %cert_path.display(), fingerprint = %fingerprint, "admin TLS certificate (SHA-256)");
    Ok((made.acceptor, fingerprint))
}

/// The admin certificate's SHA-256 fingerprint (making the self-signed pair
/// if there is none yet, so it can be pinned before the first start).
pub fn fingerprint(config: &Config) -> Result<String, AdminError> {
    let (cert_path, _) = pair(config)?;
    file_fingerprint(&cert_path).map_err(from_web)
}

/// The certificate and key files in use: the configured ones, or the
/// self-signed pair (made now if either file is missing).
fn pair(config: &Config) -> Result<(PathBuf, PathBuf), AdminError> {
    if let Some(tls) = &config.admin.tls {
        return Ok((tls.cert.clone(), tls.key.clone()));
    }
    let dir = &config.store.path;
    let (cert, key) = (dir.join(SELF_SIGNED_CERT), dir.join(SELF_SIGNED_KEY));
    let name = format!("desawifi admin ({})", config.site.name);
    if ensure_self_signed(&cert, &key, config.admin.listen.ip(), &name).map_err(from_web)? {
        info!(cert = %cert.display(), "made a self-signed admin certificate");
    }
    Ok((cert, key))
}

fn from_web(TlsFileError { path, message }: TlsFileError) -> AdminError {
    AdminError::Tls { path, message }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use std::path::Path;

    use super::*;

    fn config(name: &str) -> Config {
        let dir =
            std::env::temp_dir().join(format!("desawifi-admin-tls-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut c = Config::parse(
            include_str!("../../config/desawifi.toml"),
            Path::new("desawifi.toml"),
        )
        .unwrap();
        c.store.path = dir.join("store");
        c.admin.listen = "192.0.2.1:8443".parse().unwrap();
        c.admin.tls = None;
        c
    }

    fn openssl_fingerprint(cert: &Path) -> String {
        let out = std::process::Command::new("openssl")
            .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
            .arg(cert)
            .output()
            .expect("openssl must be installed (scripts/install-deps.sh)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        text.trim()
            .split_once('=')
            .expect("sha256 Fingerprint=...")
            .1
            .to_owned()
    }

    #[test]
    fn self_signed_pair_is_made_once_and_kept() {
        let c = config("self");
        let first = fingerprint(&c).unwrap();
        let cert = c.store.path.join(SELF_SIGNED_CERT);
        let key = c.store.path.join(SELF_SIGNED_KEY);
        assert_eq!(
            std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(first, openssl_fingerprint(&cert));
        assert_eq!(first.len(), 32 * 3 - 1);
        let (_acceptor, second) = acceptor(&c).unwrap();
        assert_eq!(second, first, "the pair is kept, not made anew");
        let text = std::process::Command::new("openssl")
            .args(["x509", "-noout", "-text", "-in"])
            .arg(&cert)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&text.stdout);
        for san in [
            "IP Address:192.0.2.1",
            "DNS:localhost",
            "IP Address:127.0.0.1",
        ] {
            assert!(text.contains(san), "{san} missing in\n{text}");
        }
        // A missing key means a new pair (a certificate alone is of no use).
        std::fs::remove_file(&key).unwrap();
        assert_ne!(fingerprint(&c).unwrap(), first);
        let _ = std::fs::remove_dir_all(c.store.path.parent().unwrap());
    }

    #[test]
    fn configured_pair_is_used_and_errors_name_the_file() {
        let made = config("made");
        fingerprint(&made).unwrap();
        let mut c = config("configured");
        c.admin.tls = Some(crate::config::AdminTls {
            cert: made.store.path.join(SELF_SIGNED_CERT),
            key: made.store.path.join(SELF_SIGNED_KEY),
        });
        let (_, fp) = acceptor(&c).unwrap();
        assert_eq!(
            fp,
            openssl_fingerprint(&made.store.path.join(SELF_SIGNED_CERT))
        );
        assert!(
            !c.store.path.join(SELF_SIGNED_CERT).exists(),
            "no self-signed pair when one is configured"
        );
        c.admin.tls = Some(crate::config::AdminTls {
            cert: made.store.path.join(SELF_SIGNED_KEY),
            key: made.store.path.join(SELF_SIGNED_KEY),
        });
        let err = acceptor(&c)
            .err()
            .expect("a key is not a certificate")
            .to_string();
        assert!(
            err.contains("admin-key.pem") && err.contains("no certificate"),
            "{err}"
        );
        let _ = std::fs::remove_dir_all(made.store.path.parent().unwrap());
    }
}
