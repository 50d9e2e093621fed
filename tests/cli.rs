//! The command line: check-config accepts the shipped example and names the
//! key, value and expectation of a bad one; check-config and doctor name a
//! metrics token file that cannot be used, and the chmod that fixes it.

use std::process::Command;

fn check(name: &str, text: &str) -> (bool, String) {
    let dir = std::env::temp_dir().join(format!("desawifi-cli-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.toml");
    std::fs::write(&path, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_desawifi"))
        .args(["check-config", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout),
    )
}

#[test]
fn the_example_config_is_valid() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/config/desawifi.toml");
    let out = Command::new(env!("CARGO_BIN_EXE_desawifi"))
        .args(["check-config", "--config", example])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_bad_value_names_file_key_value_and_expectation() {
    let example =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/desawifi.toml"))
            .unwrap();
    let bad = example.replace("daily_data = \"500 MiB\"", "daily_data = \"lots\"");
    assert_ne!(bad, example, "the example sets daily_data = \"500 MiB\"");
    let (ok, msg) = check("value", &bad);
    assert!(!ok);
    assert!(
        msg.contains("bad.toml")
            && msg.contains("quota.daily_data")
            && msg.contains("\"lots\"")
            && msg.contains("500 MiB"),
        "{msg}"
    );
}

#[test]
fn an_unknown_key_is_named() {
    let example =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/desawifi.toml"))
            .unwrap();
    let (ok, msg) = check(
        "unknown",
        &example.replace("daily_data = \"500 MiB\"", "daly_data = \"500 MiB\""),
    );
    assert!(!ok);
    assert!(
        msg.contains("quota.daly_data") && msg.contains("unknown"),
        "{msg}"
    );
}

#[test]
fn a_missing_file_is_a_clear_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_desawifi"))
        .args(["check-config", "--config", "/nonexistent/desawifi.toml"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/desawifi.toml"));
}

#[test]
fn a_metrics_token_file_that_cannot_be_used_is_named_with_its_fix() {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("desawifi-cli-{}-token", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let token = dir.join("metrics.token");
    let config = dir.join("desawifi.toml");
    let example =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/desawifi.toml"))
            .unwrap();
    let text = example.replace(
        "# metrics_token_file = \"/etc/desawifi/metrics.token\"",
        &format!("metrics_token_file = {:?}", token.to_str().unwrap()),
    );
    assert_ne!(text, example, "the example shows metrics_token_file");
    std::fs::write(&config, text).unwrap();
    let run = |verb: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_desawifi"))
            .args([verb, "--config"])
            .arg(&config)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };

    // Not there yet: both verbs name the key and the path.
    for verb in ["check-config", "doctor"] {
        let (ok, msg) = run(verb);
        assert!(!ok, "{verb}: {msg}");
        assert!(
            msg.contains(&format!(
                "admin.metrics_token_file: cannot read {}: No such file",
                token.display()
            )),
            "{verb}: {msg}"
        );
    }
    // Written with a umask of 022: world-readable, refused with the chmod to run.
    std::fs::write(&token, "0123456789abcdef0123456789abcdef\n").unwrap();
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o644)).unwrap();
    for verb in ["check-config", "doctor"] {
        let (ok, msg) = run(verb);
        assert!(!ok, "{verb}: {msg}");
        assert!(
            msg.contains(&format!(
                "admin.metrics_token_file: {} is readable by everyone (mode 0644; it holds a secret: run `chmod 600 {}`)",
                token.display(),
                token.display()
            )),
            "{verb}: {msg}"
        );
    }
    // After the chmod, check-config accepts it.
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600)).unwrap();
    let (ok, msg) = run("check-config");
    assert!(ok, "{msg}");
    let _ = std::fs::remove_dir_all(&dir);
}
