//! The admin listener's certificate: the PEM pair named in `[admin]`
//! (`tls_cert`, `tls_key`), or else a self-signed one made once with rcgen
//! and kept in the store directory (`admin-cert.pem`, `admin-key.pem` mode
//! 0600), so its fingerprint stays the same across restarts and admins can
//! pin it. The SHA-256 fingerprint is printed the way
//! `openssl x509 -noout -fingerprint -sha256` prints it.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use rustls::pki_types::CertificateDer;
use tokio_rustls::TlsAcceptor;
use tracing::info;

use super::AdminError;
use crate::config::Config;
use crate::web;

/// The self-signed certificate's file name in the store directory.
pub const SELF_SIGNED_CERT: &str = "admin-cert.pem";
/// Its key's file name (mode 0600).
pub const SELF_SIGNED_KEY: &str = "admin-key.pem";

/// A TLS acceptor for the admin listener and its certificate's SHA-256
/// fingerprint (also logged, so the journal shows what to pin).
pub fn acceptor(config: &Config) -> Result<(TlsAcceptor, String), AdminError> {
    let (cert_path, key_path) = pair(config)?;
    let made = web::tls::acceptor(&cert_path, &key_path).map_err(from_web)?;
    let fingerprint = sha256_fingerprint(&made.leaf);
    info!(cert = %cert_path.display(), fingerprint = %fingerprint, "admin TLS certificate (SHA-256)");
    Ok((made.acceptor, fingerprint))
}

/// The admin certificate's SHA-256 fingerprint (making the self-signed pair
/// if there is none yet, so it can be pinned before the first start).
pub fn fingerprint(config: &Config) -> Result<String, AdminError> {
    let (cert_path, _) = pair(config)?;
    Ok(sha256_fingerprint(&read_certs(&cert_path)?[0]))
}

/// `AB:CD:...`: upper-case hex, colon-separated, of the SHA-256 of the DER.
pub fn sha256_fingerprint(der: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, der);
    digest
        .as_ref()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// The certificate and key files in use: the configured ones, or the
/// self-signed pair (made now if either file is missing).
fn pair(config: &Config) -> Result<(PathBuf, PathBuf), AdminError> {
    if let Some(tls) = &config.admin.tls {
        return Ok((tls.cert.clone(), tls.key.clone()));
    }
    let dir = &config.store.path;
    let (cert, key) = (dir.join(SELF_SIGNED_CERT), dir.join(SELF_SIGNED_KEY));
    if !(cert.exists() && key.exists()) {
        make_self_signed(&cert, &key, config.admin.listen.ip(), &config.site.name)?;
    }
    Ok((cert, key))
}

fn make_self_signed(
    cert_path: &Path,
    key_path: &Path,
    listen: IpAddr,
    site: &str,
) -> Result<(), AdminError> {
    let dir = cert_path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)
        .map_err(|e| tls_error(dir, &format!("cannot create the directory: {e}")))?;
    let mut names = Vec::new();
    if !listen.is_unspecified() {
        names.push(listen.to_string());
    }
    for name in ["localhost".to_owned(), Ipv4Addr::LOCALHOST.to_string()] {
        if !names.contains(&name) {
            names.push(name);
        }
    }
    let rcgen_error = |e: rcgen::Error| {
        tls_error(
            cert_path,
            &format!("cannot make a self-signed certificate: {e}"),
        )
    };
    let key = rcgen::KeyPair::generate().map_err(rcgen_error)?;
    let mut params = rcgen::CertificateParams::new(names.clone()).map_err(rcgen_error)?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(
        rcgen::DnType::CommonName,
        format!("desawifi admin ({site})"),
    );
    let cert = params.self_signed(&key).map_err(rcgen_error)?;
    // The key first: a certificate file on disk means the pair is complete.
    write_new(key_path, key.serialize_pem().as_bytes(), 0o600)?;
    write_new(cert_path, cert.pem().as_bytes(), 0o644)?;
    info!(cert = %cert_path.display(), names = ?names, "made a self-signed admin certificate");
    Ok(())
}

/// Write through a temporary file and rename, so a crash leaves the old file or the new one.
fn write_new(path: &Path, contents: &[u8], mode: u32) -> Result<(), AdminError> {
    let tmp = path.with_extension("pem.tmp");
    let _ = std::fs::remove_file(&tmp);
    let result = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .and_then(|mut f| f.write_all(contents).and_then(|()| f.sync_all()))
        .and_then(|()| std::fs::rename(&tmp, path));
    result.map_err(|e| tls_error(path, &format!("cannot write: {e}")))
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, AdminError> {
    web::tls::read_certs(path).map_err(from_web)
}

fn from_web(web::tls::TlsFileError { path, message }: web::tls::TlsFileError) -> AdminError {
    AdminError::Tls { path, message }
}

fn tls_error(path: &Path, message: &str) -> AdminError {
    AdminError::Tls {
        path: path.to_owned(),
        message: message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

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
