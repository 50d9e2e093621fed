//! `desawifi policy keygen | sign | verify`: the regency's side of issue 14,
//! with openssl as the second, independent implementation (its keys sign
//! what we verify, and ours are keys it reads).

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        let d =
            std::env::temp_dir().join(format!("desawifi-policy-cli-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        Dir(d)
    }
    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// (exit 0, stdout + stderr)
fn desawifi(args: &[&dyn AsRef<std::ffi::OsStr>]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_desawifi"))
        .args(args.iter().map(|a| a.as_ref()))
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

fn openssl(args: &[&dyn AsRef<std::ffi::OsStr>]) {
    let out = Command::new("openssl")
        .args(args.iter().map(|a| a.as_ref()))
        .output()
        .expect("openssl not found: apt-get install openssl");
    assert!(
        out.status.success(),
        "openssl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

const GOOD: &str =
    "version = 3\nexpires = \"2099-01-01T00:00:00+08:00\"\n\n[quota]\ndaily_data = \"300 MiB\"\n";

fn keygen(d: &Dir) -> (PathBuf, PathBuf) {
    let (ok, msg) = desawifi(&[&"policy", &"keygen", &"--out", &d.path("keys")]);
    assert!(ok, "{msg}");
    (d.path("keys/policy.key"), d.path("keys/policy.pub"))
}

fn sign(key: &Path, doc: &Path) -> (bool, String) {
    desawifi(&[&"policy", &"sign", &"--key", &key, &doc])
}

fn verify(public: &Path, doc: &Path) -> (bool, String) {
    desawifi(&[&"policy", &"verify", &"--public-key", &public, &doc])
}

#[test]
fn keygen_writes_a_private_key_only_root_reads_and_never_overwrites_it() {
    let d = Dir::new("keygen");
    let (key, public) = keygen(&d);
    let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "policy.key mode {mode:o}");
    let pem = std::fs::read_to_string(&key).unwrap();
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"), "{pem}");
    let pubtext = std::fs::read_to_string(&public).unwrap();
    assert_eq!(pubtext.trim().len(), 44, "base64 of 32 bytes: {pubtext}");
    // openssl reads our private key, and derives the same public key.
    let der = d.path("pub.der");
    openssl(&[
        &"pkey",
        &"-in",
        &key,
        &"-pubout",
        &"-outform",
        &"DER",
        &"-out",
        &der,
    ]);
    let der = std::fs::read(der).unwrap();
    use base64::Engine as _;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(pubtext.trim())
        .unwrap();
    assert_eq!(&der[der.len() - 32..], &raw[..]);
    // A second keygen into the same place leaves the first key alone.
    let (ok, msg) = desawifi(&[&"policy", &"keygen", &"--out", &d.path("keys")]);
    assert!(!ok, "{msg}");
    assert_eq!(std::fs::read_to_string(&key).unwrap(), pem);
}

#[test]
fn sign_then_verify_and_a_tampered_byte_fails() {
    let d = Dir::new("roundtrip");
    let (key, public) = keygen(&d);
    let doc = d.path("policy.toml");
    std::fs::write(&doc, GOOD).unwrap();
    let (ok, msg) = sign(&key, &doc);
    assert!(ok, "{msg}");
    assert!(d.path("policy.toml.sig").exists());
    let (ok, msg) = verify(&public, &doc);
    assert!(ok && msg.contains("ok (version 3"), "{msg}");
    // One byte changed after signing (300 -> 900 MiB).
    std::fs::write(&doc, GOOD.replace("300", "900")).unwrap();
    let (ok, msg) = verify(&public, &doc);
    assert!(!ok && msg.contains("bad signature"), "{msg}");
    // No signature file at all.
    std::fs::write(&doc, GOOD).unwrap();
    std::fs::remove_file(d.path("policy.toml.sig")).unwrap();
    let (ok, msg) = verify(&public, &doc);
    assert!(!ok && msg.contains("policy.toml.sig"), "{msg}");
}

#[test]
fn sign_refuses_an_invalid_document_naming_the_key() {
    let d = Dir::new("invalid");
    let (key, _) = keygen(&d);
    let doc = d.path("policy.toml");
    std::fs::write(&doc, GOOD.replace("300 MiB", "lots")).unwrap();
    let (ok, msg) = sign(&key, &doc);
    assert!(!ok, "{msg}");
    assert!(
        msg.contains("quota.daily_data") && msg.contains("\"lots\" is not a size"),
        "{msg}"
    );
    assert!(!d.path("policy.toml.sig").exists(), "nothing signed");
    std::fs::write(&doc, GOOD.replace("daily_data", "daly_data")).unwrap();
    let (ok, msg) = sign(&key, &doc);
    assert!(!ok && msg.contains("quota.daly_data: unknown key"), "{msg}");
    std::fs::write(&doc, "expires = \"2099-01-01T00:00:00Z\"\n").unwrap();
    let (ok, msg) = sign(&key, &doc);
    assert!(!ok && msg.contains("version: missing key"), "{msg}");
}

#[test]
fn verify_fails_on_an_unknown_key_and_an_expired_document() {
    let d = Dir::new("refusals");
    let (key, public) = keygen(&d);
    let other = Dir::new("refusals-other");
    let (other_key, _) = keygen(&other);
    let doc = d.path("policy.toml");
    std::fs::write(&doc, GOOD).unwrap();
    assert!(sign(&other_key, &doc).0);
    let (ok, msg) = verify(&public, &doc);
    assert!(!ok && msg.contains("unknown key"), "{msg}");
    // Expired: signing warns, verifying fails.
    std::fs::write(&doc, GOOD.replace("2099", "2020")).unwrap();
    let (ok, msg) = sign(&key, &doc);
    assert!(ok && msg.contains("gateways will refuse it"), "{msg}");
    let (ok, msg) = verify(&public, &doc);
    assert!(!ok && msg.contains("expired at 2020-01-01"), "{msg}");
    // A public key file that is not one.
    std::fs::write(d.path("junk.pub"), "hello\n").unwrap();
    let (ok, msg) = verify(&d.path("junk.pub"), &doc);
    assert!(!ok && msg.contains("junk.pub"), "{msg}");
}

#[test]
fn openssl_signatures_and_keys_interoperate() {
    let d = Dir::new("openssl");
    let key = d.path("regency.key");
    openssl(&[&"genpkey", &"-algorithm", &"ed25519", &"-out", &key]);
    let public = d.path("regency.pub.pem");
    openssl(&[&"pkey", &"-in", &key, &"-pubout", &"-out", &public]);
    let doc = d.path("policy.toml");
    std::fs::write(&doc, GOOD).unwrap();
    // openssl signs the exact bytes; the raw 64-byte signature verifies.
    openssl(&[
        &"pkeyutl",
        &"-sign",
        &"-rawin",
        &"-inkey",
        &key,
        &"-in",
        &doc,
        &"-out",
        &d.path("policy.toml.sig"),
    ]);
    let (ok, msg) = verify(&public, &doc);
    assert!(ok, "{msg}");
    // And our sign reads openssl's key; its signature verifies too.
    let (ok, msg) = sign(&key, &doc);
    assert!(ok, "{msg}");
    let (ok, msg) = verify(&public, &doc);
    assert!(ok, "{msg}");
    // openssl verifies ours (the signature is the file's last field).
    let line = std::fs::read_to_string(d.path("policy.toml.sig")).unwrap();
    use base64::Engine as _;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(line.split_whitespace().last().unwrap())
        .unwrap();
    std::fs::write(d.path("raw.sig"), raw).unwrap();
    openssl(&[
        &"pkeyutl",
        &"-verify",
        &"-rawin",
        &"-pubin",
        &"-inkey",
        &public,
        &"-in",
        &doc,
        &"-sigfile",
        &d.path("raw.sig"),
    ]);
}
