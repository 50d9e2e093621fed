//! The regency's policy document (issue 14): the settings a regency may set
//! for all its villages, signed with ed25519 by the regency and pulled by
//! each gateway. This room is the document alone: parse it, validate every
//! value with the config file's own parsers, sign and verify its exact
//! bytes. No I/O beyond the bytes it is given: the CLI (`main.rs`) and the
//! puller (`admin::policy_pull`) read and fetch them.
//!
//! - [`document`]: the TOML (`version`, `expires`, `[quota]`, `[usage] free`,
//!   `[schedule]`, `[walled_garden] addresses`) -> a checked [`Policy`].
//! - [`mod@sign`]: keys (PKCS#8 PEM private, base64 raw public), the detached
//!   `policy.toml.sig`, and [`verify`] that checks signature, document and
//!   expiry in that order.

pub mod document;
pub mod sign;

pub use document::{Policy, PolicySchedule};
pub use sign::{
    generate_key, private_key_from_pem, public_key_from_text, sign, verify, KeyPair, PublicKey,
    Signature,
};

use crate::telemetry::PolicyRefusal;

/// Why a policy was refused. Each has a `reason` label for
/// `desawifi_policy_errors_total{reason}` and the console.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The signature file names a key other than the configured one.
    #[error("signed by an unknown key {found} (this gateway trusts {trusted})")]
    UnknownKey { found: String, trusted: String },
    /// The signature does not match the document's bytes under the trusted key.
    #[error("bad signature: {0}")]
    BadSignature(String),
    /// A key or value of the document is wrong (the key path is named).
    #[error("{key}: {message}")]
    Invalid { key: String, message: String },
    /// The document's version is not above the one in force (a replay).
    #[error("version {found} is not above the current version {current} (replay refused)")]
    Replay { found: u64, current: u64 },
    /// The document's `expires` has passed.
    #[error("expired at {expires}")]
    Expired { expires: String },
    /// A key file could not be understood.
    #[error("key: {0}")]
    Key(String),
}

impl PolicyError {
    /// Why, as `desawifi_policy_errors_total` and the console name it.
    pub fn reason(&self) -> PolicyRefusal {
        match self {
            PolicyError::UnknownKey { .. } => PolicyRefusal::UnknownKey,
            PolicyError::BadSignature(_) => PolicyRefusal::BadSignature,
            PolicyError::Invalid { .. } => PolicyRefusal::Invalid,
            PolicyError::Replay { .. } => PolicyRefusal::Replay,
            PolicyError::Expired { .. } => PolicyRefusal::Expired,
            PolicyError::Key(_) => PolicyRefusal::Key,
        }
    }

    /// An invalid key of the document.
    pub fn invalid(key: &str, message: impl Into<String>) -> PolicyError {
        PolicyError::Invalid {
            key: key.to_owned(),
            message: message.into(),
        }
    }
}

/// Check `document` against `sig` under `trusted`, then its content, then
/// that it is newer than `current` (the version in force, 0 for none) and
/// not expired at `now` (unix seconds). The order matters: nothing of an
/// unsigned document is parsed.
pub fn accept(
    document: &[u8],
    sig: &[u8],
    trusted: &PublicKey,
    current: u64,
    now: i64,
) -> Result<Policy, PolicyError> {
    let policy = verify(document, sig, trusted, now)?;
    if policy.version <= current {
        return Err(PolicyError::Replay {
            found: policy.version,
            current,
        });
    }
    Ok(policy)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_764_547_200; // 2025-12-01T00:00:00Z

    fn doc(version: u64, expires: &str) -> Vec<u8> {
        format!(
            "version = {version}\nexpires = \"{expires}\"\n\n[quota]\ndaily_data = \"300 MiB\"\n"
        )
        .into_bytes()
    }

    #[test]
    fn a_signed_newer_unexpired_document_is_accepted() {
        let key = generate_key().unwrap();
        let d = doc(3, "2030-01-01T00:00:00Z");
        let sig = sign(&key, &d).unwrap();
        let p = accept(&d, sig.to_text().as_bytes(), &key.public(), 2, NOW).unwrap();
        assert_eq!(p.version, 3);
        assert_eq!(
            p.quota,
            vec![(crate::config::QuotaKey::DailyData, "300 MiB".to_owned())]
        );
    }

    #[test]
    fn refusals_have_their_reasons() {
        let key = generate_key().unwrap();
        let other = generate_key().unwrap();
        let d = doc(3, "2030-01-01T00:00:00Z");
        let sig = sign(&key, &d).unwrap().to_text();
        let reason = |r: Result<Policy, PolicyError>| r.unwrap_err().reason().label();
        // Not above the current version, equal or lower.
        assert_eq!(
            reason(accept(&d, sig.as_bytes(), &key.public(), 3, NOW)),
            "replay"
        );
        assert_eq!(
            reason(accept(&d, sig.as_bytes(), &key.public(), 9, NOW)),
            "replay"
        );
        // One byte changed after signing.
        let mut tampered = d.clone();
        let i = tampered.iter().position(|&b| b == b'3').unwrap();
        tampered[i] = b'4';
        assert_eq!(
            reason(accept(&tampered, sig.as_bytes(), &key.public(), 0, NOW)),
            "bad_signature"
        );
        // Signed by another key, the sig naming it.
        let by_other = sign(&other, &d).unwrap().to_text();
        assert_eq!(
            reason(accept(&d, by_other.as_bytes(), &key.public(), 0, NOW)),
            "unknown_key"
        );
        // A bare signature (no key named) by another key is a bad signature.
        let bare = sign(&other, &d).unwrap().0;
        assert_eq!(
            reason(accept(&d, &bare, &key.public(), 0, NOW)),
            "bad_signature"
        );
        // Expired.
        let old = doc(4, "2025-11-30T23:59:59Z");
        let sig = sign(&key, &old).unwrap().to_text();
        assert_eq!(
            reason(accept(&old, sig.as_bytes(), &key.public(), 0, NOW)),
            "expired"
        );
        // Signed but invalid.
        let bad =
            b"version = 5\nexpires = \"2030-01-01T00:00:00Z\"\n[quota]\ndaily_data = \"lots\"\n";
        let sig = sign(&key, bad).unwrap().to_text();
        let e = accept(bad, sig.as_bytes(), &key.public(), 0, NOW).unwrap_err();
        assert_eq!(e.reason().label(), "invalid");
        assert!(e.to_string().starts_with("quota.daily_data: "), "{e}");
        // Garbage in the signature file.
        assert_eq!(
            reason(accept(&d, b"not a signature", &key.public(), 0, NOW)),
            "bad_signature"
        );
    }
}
