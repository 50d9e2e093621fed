//! Keys and signatures: ed25519 (ring) over the document's exact bytes.
//!
//! - The private key is PKCS#8 v1 in PEM (`-----BEGIN PRIVATE KEY-----`),
//!   the form `openssl genpkey -algorithm ed25519` writes and `openssl pkey`
//!   reads.
//! - The public key is the base64 of its 32 raw bytes (what
//!   `[fleet] policy_public_key` holds); a PEM `PUBLIC KEY` is read too.
//! - The signature file `policy.toml.sig` that `desawifi policy sign` writes
//!   is one line, `ed25519 <public key> <signature>` (both base64), so a
//!   gateway can tell a document signed by a key it does not trust from a
//!   tampered one. A bare signature (64 raw bytes, as `openssl pkeyutl
//!   -sign -rawin` writes, or their base64) is read too.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ring::signature::{Ed25519KeyPair, KeyPair as _, UnparsedPublicKey, ED25519};

use super::{Policy, PolicyError};

/// The DER prefix of an ed25519 PKCS#8 v1 private key; the 32-byte seed follows.
const PKCS8_V1_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];
/// The DER prefix of an ed25519 SubjectPublicKeyInfo; the 32-byte key follows.
const SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// A signing key (the regency's; never on a gateway).
pub struct KeyPair {
    pair: Ed25519KeyPair,
    /// PKCS#8 v1 DER, kept to write the PEM.
    pkcs8: Vec<u8>,
}

/// A trusted public key (32 raw bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(pub [u8; 32]);

/// A detached signature: the 64 bytes and the key it names, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature(pub Vec<u8>, pub Option<PublicKey>);

/// A new random key.
pub fn generate_key() -> Result<KeyPair, PolicyError> {
    let rng = ring::rand::SystemRandom::new();
    let v2 = Ed25519KeyPair::generate_pkcs8(&rng)
        .map_err(|_| PolicyError::Key("no randomness for a new key".into()))?;
    // ring writes PKCS#8 v2 (with the public key); its seed sits right after
    // the same 16-byte header as v1's. Keep v1, the form openssl writes.
    let seed = v2
        .as_ref()
        .get(16..48)
        .ok_or_else(|| PolicyError::Key("unexpected PKCS#8 from ring".into()))?;
    let mut pkcs8 = PKCS8_V1_PREFIX.to_vec();
    pkcs8.extend_from_slice(seed);
    from_pkcs8(pkcs8)
}

fn from_pkcs8(pkcs8: Vec<u8>) -> Result<KeyPair, PolicyError> {
    let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(&pkcs8)
        .map_err(|e| PolicyError::Key(format!("not an ed25519 PKCS#8 key: {e}")))?;
    Ok(KeyPair { pair, pkcs8 })
}

/// The DER inside a PEM block labelled `label`.
fn pem_body(text: &str, label: &str) -> Option<Vec<u8>> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = text.find(&begin)? + begin.len();
    let stop = text[start..].find(&end)? + start;
    let b64: String = text[start..stop]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    B64.decode(b64).ok()
}

/// Read a private key file's text (PKCS#8 PEM, v1 or v2).
pub fn private_key_from_pem(text: &str) -> Result<KeyPair, PolicyError> {
    let der = pem_body(text, "PRIVATE KEY")
        .ok_or_else(|| PolicyError::Key("no \"PRIVATE KEY\" PEM block".into()))?;
    let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der)
        .map_err(|e| PolicyError::Key(format!("not an ed25519 PKCS#8 key: {e}")))?;
    // Normalise to v1 so to_pem writes what openssl writes.
    let seed = der
        .get(16..48)
        .ok_or_else(|| PolicyError::Key("short PKCS#8".into()))?;
    let mut pkcs8 = PKCS8_V1_PREFIX.to_vec();
    pkcs8.extend_from_slice(seed);
    match from_pkcs8(pkcs8) {
        Ok(k)
            if k.public()
                == PublicKey(pair.public_key().as_ref().try_into().unwrap_or([0; 32])) =>
        {
            Ok(k)
        }
        _ => Err(PolicyError::Key("unexpected PKCS#8 layout".into())),
    }
}

/// Read a public key: base64 of the 32 raw bytes, or a PEM `PUBLIC KEY`.
pub fn public_key_from_text(text: &str) -> Result<PublicKey, PolicyError> {
    let raw = match pem_body(text, "PUBLIC KEY") {
        Some(der) => der
            .strip_prefix(&SPKI_PREFIX[..])
            .map(<[u8]>::to_vec)
            .ok_or_else(|| PolicyError::Key("the PEM PUBLIC KEY is not ed25519".into()))?,
        None => B64
            .decode(text.trim())
            .map_err(|e| PolicyError::Key(format!("not base64: {e}")))?,
    };
    let raw: [u8; 32] = raw.try_into().map_err(|v: Vec<u8>| {
        PolicyError::Key(format!(
            "an ed25519 public key is 32 bytes, this is {}",
            v.len()
        ))
    })?;
    Ok(PublicKey(raw))
}

impl KeyPair {
    /// The PKCS#8 PEM text of the private key.
    pub fn to_pem(&self) -> String {
        let b64 = B64.encode(&self.pkcs8);
        let mut out = String::from("-----BEGIN PRIVATE KEY-----\n");
        for chunk in b64.as_bytes().chunks(64) {
            out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
            out.push('\n');
        }
        out.push_str("-----END PRIVATE KEY-----\n");
        out
    }

    /// The key a gateway trusts.
    pub fn public(&self) -> PublicKey {
        let mut raw = [0u8; 32];
        raw.copy_from_slice(self.pair.public_key().as_ref());
        PublicKey(raw)
    }
}

impl PublicKey {
    /// Base64 of the 32 bytes (the `policy.pub` file, `[fleet] policy_public_key`).
    pub fn to_text(&self) -> String {
        B64.encode(self.0)
    }
}

impl Signature {
    /// The `policy.toml.sig` line: `ed25519 <key> <signature>\n`.
    pub fn to_text(&self) -> String {
        match &self.1 {
            Some(k) => format!("ed25519 {} {}\n", k.to_text(), B64.encode(&self.0)),
            None => format!("{}\n", B64.encode(&self.0)),
        }
    }

    /// Read a signature file: the line `policy sign` writes, a bare base64
    /// signature, or 64 raw bytes.
    pub fn parse(bytes: &[u8]) -> Result<Signature, PolicyError> {
        let bad = |m: &str| PolicyError::BadSignature(format!("the signature file: {m}"));
        if bytes.len() == 64 && std::str::from_utf8(bytes).is_err() {
            return Ok(Signature(bytes.to_vec(), None));
        }
        let text = std::str::from_utf8(bytes).map_err(|_| bad("neither text nor 64 bytes"))?;
        let fields: Vec<&str> = text.split_whitespace().collect();
        let (key, sig) = match fields.as_slice() {
            ["ed25519", key, sig] => (
                Some(
                    public_key_from_text(key)
                        .map_err(|_| bad("its key is not base64 of 32 bytes"))?,
                ),
                *sig,
            ),
            [sig] => (None, *sig),
            _ => return Err(bad("expected \"ed25519 <key> <signature>\"")),
        };
        let sig = B64
            .decode(sig)
            .map_err(|_| bad("the signature is not base64"))?;
        if sig.len() != 64 {
            return Err(bad("an ed25519 signature is 64 bytes"));
        }
        Ok(Signature(sig, key))
    }
}

/// Sign the document's exact bytes (the caller checks the document first).
pub fn sign(key: &KeyPair, document: &[u8]) -> Result<Signature, PolicyError> {
    let sig = key.pair.sign(document);
    Ok(Signature(sig.as_ref().to_vec(), Some(key.public())))
}

/// Check the signature file `sig` over `document` under `trusted`, then the
/// document, then that it has not expired at `now` (unix seconds).
pub fn verify(
    document: &[u8],
    sig: &[u8],
    trusted: &PublicKey,
    now: i64,
) -> Result<Policy, PolicyError> {
    let sig = Signature::parse(sig)?;
    if let Some(named) = sig.1 {
        if named != *trusted {
            return Err(PolicyError::UnknownKey {
                found: named.to_text(),
                trusted: trusted.to_text(),
            });
        }
    }
    UnparsedPublicKey::new(&ED25519, &trusted.0)
        .verify(document, &sig.0)
        .map_err(|_| {
            PolicyError::BadSignature("it does not match the document under the trusted key".into())
        })?;
    let policy = Policy::parse(document)?;
    if policy.expired(now) {
        return Err(PolicyError::Expired {
            expires: policy.expires_text,
        });
    }
    Ok(policy)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_through_their_files() {
        let key = generate_key().unwrap();
        let pem = key.to_pem();
        assert!(
            pem.starts_with("-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEI"),
            "{pem}"
        );
        let back = private_key_from_pem(&pem).unwrap();
        assert_eq!(back.public(), key.public());
        let public = public_key_from_text(&key.public().to_text()).unwrap();
        assert_eq!(public, key.public());
        // openssl's PEM public key form.
        let mut spki = SPKI_PREFIX.to_vec();
        spki.extend_from_slice(&key.public().0);
        let pem = format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            B64.encode(spki)
        );
        assert_eq!(public_key_from_text(&pem).unwrap(), key.public());
        assert!(public_key_from_text("AAAA").is_err());
        assert!(private_key_from_pem("nothing").is_err());
    }

    #[test]
    fn signature_files_in_every_form() {
        let key = generate_key().unwrap();
        let sig = sign(&key, b"version = 1").unwrap();
        let text = sig.to_text();
        assert!(text.starts_with("ed25519 ") && text.ends_with('\n'));
        assert_eq!(Signature::parse(text.as_bytes()).unwrap(), sig);
        let bare = Signature::parse(&sig.0).unwrap();
        assert_eq!((bare.0.clone(), bare.1), (sig.0.clone(), None));
        let b64 = format!("{}\n", B64.encode(&sig.0));
        assert_eq!(Signature::parse(b64.as_bytes()).unwrap().0, sig.0);
        assert!(Signature::parse(b"ed25519 x y").is_err());
        assert!(Signature::parse(b"").is_err());
    }
}
