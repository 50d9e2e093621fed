//! The portal over HTTPS (RFC 8908 asks for the captive API on https): a
//! test certificate for the portal's public name, curl from a phone that
//! trusts it, and the firewall letting captive phones reach that port.

use desawifi_testkit as common;

use common::{curl, ns_exec, Daemon, Village};

const NAME: &str = "portal.desa.test";

/// A self-signed certificate for NAME (openssl, as an operator would make one).
fn test_certificate(dir: &std::path::Path) -> (String, String) {
    let (cert, key) = (dir.join("portal.crt"), dir.join("portal.key"));
    common::self_signed_cert(NAME, &key, &cert);
    (cert.display().to_string(), key.display().to_string())
}

#[test]
fn the_captive_api_is_served_over_https_at_the_public_name() {
    let v = Village::up("https", 1);
    let (cert, key) = test_certificate(&v.run_dir());
    let _d = Daemon::start_portal(
        &v,
        &format!("https_listen = \"10.77.0.1:8443\"\ntls_cert = \"{cert}\"\ntls_key = \"{key}\"\npublic_name = \"{NAME}\""),
        "",
    );
    let https = |path: &str| {
        curl(
            &v.phone(1),
            &[
                "--cacert",
                &cert,
                "--resolve",
                &format!("{NAME}:8443:10.77.0.1"),
                &format!("https://{NAME}:8443{path}"),
            ],
            5.0,
        )
    };
    // A captive phone reaches the HTTPS portal (the firewall lets the port in) and trusts it.
    let r = https("/api/captive");
    assert_eq!(r.code, 200, "{r:?}");
    assert!(
        r.headers
            .to_ascii_lowercase()
            .contains("content-type: application/captive+json"),
        "{}",
        r.headers
    );
    let api: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(api["captive"], true);
    assert_eq!(
        api["user-portal-url"],
        format!("https://{NAME}:8443/"),
        "user-portal-url is https: {api}"
    );
    // The splash page too, and logging in over HTTPS works.
    let r = https("/");
    assert!(r.code == 200 && r.body.contains("Sambungkan"), "{r:?}");
    let login = curl(
        &v.phone(1),
        &[
            "--cacert",
            &cert,
            "--resolve",
            &format!("{NAME}:8443:10.77.0.1"),
            "-X",
            "POST",
            &format!("https://{NAME}:8443/login"),
        ],
        5.0,
    );
    assert_eq!(login.code, 303, "{login:?}");
    let api: serde_json::Value = serde_json::from_str(&https("/api/captive").body).unwrap();
    assert_eq!(api["captive"], false, "{api}");
    // Plain HTTP keeps working, and a junk TLS client does not disturb it.
    let junk = ns_exec(&v.phone(1), &["bash", "-c", "exec 3<>/dev/tcp/10.77.0.1/8443; printf 'GET / HTTP/1.1\\r\\n\\r\\n' >&3; timeout 2 cat <&3 >/dev/null; true"]);
    assert!(junk.status.success());
    let r = curl(&v.phone(1), &["http://10.77.0.1:2050/api/captive"], 5.0);
    assert_eq!(r.code, 200, "{r:?}");
}
