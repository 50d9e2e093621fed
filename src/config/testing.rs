//! Helpers the sections' unit tests share: the smallest valid file and an
//! error for one key set in it.

use std::path::Path;

use super::{Config, ConfigError};

/// The smallest valid file: only the required keys.
pub const MINIMAL: &str = r#"
[site]
name = "Desa Kepala Telake"
[network]
lan_interface = "br-lan"
wan_interface = "wan0"
portal_address = "10.77.0.1"
[portal]
listen = "10.77.0.1:2050"
[store]
path = "/var/lib/desawifi"
"#;

/// `text` checked as `x.toml`.
pub fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, Path::new("x.toml"))
}

/// The error message for `MINIMAL` with `key = value` set in `[section]` (replacing
/// the key if MINIMAL has it there, adding the section if MINIMAL lacks it).
pub fn error_with(section: &str, key: &str, value: &str) -> String {
    let header = format!("[{section}]");
    let mut current = "";
    let mut text = String::new();
    for line in MINIMAL.lines() {
        if line.starts_with('[') {
            current = line;
        }
        if current == header && line.starts_with(&format!("{key} =")) {
            continue;
        }
        text.push_str(line);
        text.push('\n');
        if line == header {
            text.push_str(&format!("{key} = {value}\n"));
        }
    }
    if !MINIMAL.contains(&header) {
        text.push_str(&format!("{header}\n{key} = {value}\n"));
    }
    match parse(&text) {
        Ok(_) => panic!("{section}.{key} = {value} was accepted"),
        Err(e) => e.to_string(),
    }
}

/// `section.key = value` is refused with exactly `expected`.
pub fn assert_error(section: &str, key: &str, value: &str, expected: &str) {
    let message = error_with(section, key, value);
    let want = format!("x.toml: {section}.{key}: {expected}");
    assert_eq!(message, want);
}
