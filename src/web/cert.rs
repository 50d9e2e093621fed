//! A listener's self-signed certificate, made once with rcgen and kept (the
//! key mode 0600), so its fingerprint stays the same across restarts and
//! whoever connects can pin it; and the SHA-256 fingerprint printed the way
//! `openssl x509 -noout -fingerprint -sha256` prints it. The gateway's admin
//! listener uses it today, the regency office next: which files and which
//! names is theirs to say, the making is here.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use tracing::info;

use super::tls::{read_certs, TlsFileError};

/// Make the pair `cert_path`/`key_path` unless both files are there (a
/// certificate without its key is of no use: a new pair is made). The
/// names are `listen` (unless unspecified), `localhost` and 127.0.0.1; the
/// subject is `common_name`. True when a pair was made now.
pub fn ensure_self_signed(
    cert_path: &Path,
    key_path: &Path,
    listen: IpAddr,
    common_name: &str,
) -> Result<bool, TlsFileError> {
    if cert_path.exists() && key_path.exists() {
        return Ok(false);
    }
    make_self_signed(cert_path, key_path, listen, common_name)?;
    Ok(true)
}

/// The SHA-256 fingerprint of the first certificate in a PEM file.
pub fn file_fingerprint(cert_path: &Path) -> Result<String, TlsFileError> {
    Ok(sha256_fingerprint(&read_certs(cert_path)?[0]))
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

fn make_self_signed(
    cert_path: &Path,
    key_path: &Path,
    listen: IpAddr,
    common_name: &str,
) -> Result<(), TlsFileError> {
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
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, common_name);
    let cert = params.self_signed(&key).map_err(rcgen_error)?;
    // The key first: a certificate file on disk means the pair is complete.
    write_new(key_path, key.serialize_pem().as_bytes(), 0o600)?;
    write_new(cert_path, cert.pem().as_bytes(), 0o644)?;
    info!(cert = %cert_path.display(), names = ?names, common_name, "made a self-signed certificate");
    Ok(())
}

/// Write through a temporary file and rename, so a crash leaves the old file or the new one.
fn write_new(path: &Path, contents: &[u8], mode: u32) -> Result<(), TlsFileError> {
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

fn tls_error(path: &Path, message: &str) -> TlsFileError {
    TlsFileError {
        path: path.to_owned(),
        message: message.to_owned(),
    }
}
