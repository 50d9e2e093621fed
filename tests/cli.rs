//! The command line: check-config accepts the shipped example and names the
//! key, value and expectation of a bad one.

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
