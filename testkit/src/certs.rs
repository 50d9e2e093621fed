//! Certificates made with openssl, as an operator would make them.

use std::path::Path;
use std::process::Command;

/// A self-signed P-256 certificate for DNS name `name`, valid 2 days:
/// `key` and `cert`, PEM, made by openssl as an operator would.
pub fn self_signed_cert(name: &str, key: &Path, cert: &Path) {
    let o = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "2",
        ])
        .args([
            "-subj",
            &format!("/CN={name}"),
            "-addext",
            &format!("subjectAltName=DNS:{name}"),
        ])
        .arg("-keyout")
        .arg(key)
        .arg("-out")
        .arg(cert)
        .output()
        .expect("openssl not found: apt-get install openssl");
    assert!(
        o.status.success(),
        "openssl req: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// [`self_signed_cert`] for `fleet.example.net`, the regency's server in the fleet tests.
pub fn self_signed_fleet_cert(key: &Path, cert: &Path) {
    self_signed_cert("fleet.example.net", key, cert);
}
