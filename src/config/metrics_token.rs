//! `[admin] metrics_token` or `metrics_token_file`: the bearer token that
//! opens `/metrics` (and nothing else).
//!
//! The fleet agent (vmagent, `config/fleet/vmagent.yml`) reads the token
//! from `/etc/desawifi/metrics.token`; `metrics_token_file` lets the daemon
//! read that same file, so the technician writes the token once and the two
//! cannot drift. The file is read at config load (start-up and SIGHUP); one
//! trailing newline (any trailing whitespace) is dropped, as vmagent does.
//!
//! The file is a secret: a world-readable one is refused (`chmod 600`).
//! Group-readable is accepted, like every other secret file the config names
//! (`tls_key`s are not checked at all), so a scraper under its own group can
//! still share it; the shipped instructions make it 0600, root's.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::check::Text;
use super::error::{invalid, ConfigError};

/// The shortest token accepted, in characters.
pub const MIN_LEN: usize = 16;

const KEY: &str = "admin.metrics_token";
const FILE_KEY: &str = "admin.metrics_token_file";

/// Long enough and visible ASCII only (a bearer token goes in a header).
fn strong(token: &str) -> bool {
    token.len() >= MIN_LEN && token.bytes().all(|b| b.is_ascii_graphic())
}

/// The token from `metrics_token` or from the file `metrics_token_file`
/// names (relative to the config file's directory); at most one of them.
pub(super) fn metrics_token(
    config_path: &Path,
    token: Option<Text>,
    file: Option<Text>,
) -> Result<Option<String>, ConfigError> {
    match (token, file) {
        (None, None) => Ok(None),
        (Some(_), Some(_)) => Err(invalid(
            config_path,
            FILE_KEY,
            format!("given with {KEY} (set one of admin.metrics_token and admin.metrics_token_file, not both)"),
        )),
        (Some(Text(s)), None) if strong(&s) => Ok(Some(s)),
        (Some(Text(s)), None) => Err(invalid(
            config_path,
            KEY,
            format!("{s:?} is too weak (at least {MIN_LEN} visible ASCII characters, e.g. from `openssl rand -hex 16`)"),
        )),
        (None, Some(Text(name))) => {
            if name.trim().is_empty() {
                return Err(invalid(
                    config_path,
                    FILE_KEY,
                    "must not be empty (try \"/etc/desawifi/metrics.token\")",
                ));
            }
            let file = config_path
                .parent()
                .unwrap_or(Path::new("."))
                .join(PathBuf::from(&name));
            read(config_path, &file).map(Some)
        }
    }
}

/// The token in `file`: readable, not world-readable, strong once trimmed.
fn read(config_path: &Path, file: &Path) -> Result<String, ConfigError> {
    let shown = file.display();
    let unreadable =
        |e: std::io::Error| invalid(config_path, FILE_KEY, format!("cannot read {shown}: {e}"));
    let mode = std::fs::metadata(file)
        .map_err(unreadable)?
        .permissions()
        .mode();
    if mode & 0o004 != 0 {
        return Err(invalid(
            config_path,
            FILE_KEY,
            format!(
                "{shown} is readable by everyone (mode {:04o}; it holds a secret: run `chmod 600 {shown}`)",
                mode & 0o7777
            ),
        ));
    }
    let text = std::fs::read_to_string(file).map_err(unreadable)?;
    let token = text.trim_end();
    if !strong(token) {
        // The token itself stays out of the message: it is meant to be secret.
        return Err(invalid(
            config_path,
            FILE_KEY,
            format!(
                "the token in {shown} is too weak ({} characters; at least {MIN_LEN} visible ASCII characters on one line, e.g. `(umask 077; openssl rand -hex 16 > {shown})`)",
                token.chars().count()
            ),
        ));
    }
    Ok(token.to_owned())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;
    use std::path::{Path, PathBuf};

    use super::super::Config;

    const MINIMAL: &str = "[site]\nname = \"Desa\"\n[network]\nlan_interface = \"br-lan\"\nwan_interface = \"wan0\"\nportal_address = \"10.77.0.1\"\n[portal]\nlisten = \"10.77.0.1:2050\"\n[store]\npath = \"/var/lib/desawifi\"\n";
    const TOKEN: &str = "0123456789abcdef0123456789abcdef";

    /// A fresh directory for one test.
    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "desawifi-metrics-token-{name}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    /// `contents` written to `dir/metrics.token` with `mode`.
    fn token_file(dir: &Path, contents: &str, mode: u32) -> PathBuf {
        let f = dir.join("metrics.token");
        std::fs::write(&f, contents).unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(mode)).unwrap();
        f
    }

    /// The config `dir/desawifi.toml` with `admin` as its `[admin]` section.
    fn parse(dir: &Path, admin: &str) -> Result<Config, String> {
        Config::parse(
            &format!("{MINIMAL}[admin]\n{admin}"),
            &dir.join("desawifi.toml"),
        )
        .map_err(|e| e.to_string())
    }

    #[test]
    fn the_token_is_read_from_the_file_without_its_newline() {
        let d = dir("happy");
        let f = token_file(&d, &format!("{TOKEN}\n"), 0o600);
        let c = parse(
            &d,
            &format!("metrics_token_file = {:?}\n", f.to_str().unwrap()),
        )
        .unwrap();
        assert_eq!(c.admin.metrics_token.as_deref(), Some(TOKEN));
        // Relative to the config file's directory; trailing whitespace of any kind goes.
        token_file(&d, &format!("{TOKEN} \r\n\n"), 0o400);
        let c = parse(&d, "metrics_token_file = \"metrics.token\"\n").unwrap();
        assert_eq!(c.admin.metrics_token.as_deref(), Some(TOKEN));
        // Group-readable is accepted (see the module's doc).
        token_file(&d, TOKEN, 0o640);
        let c = parse(&d, "metrics_token_file = \"metrics.token\"\n").unwrap();
        assert_eq!(c.admin.metrics_token.as_deref(), Some(TOKEN));
        // The inline key still works, and neither key means no token.
        let c = parse(&d, &format!("metrics_token = \"{TOKEN}\"\n")).unwrap();
        assert_eq!(c.admin.metrics_token.as_deref(), Some(TOKEN));
        assert_eq!(parse(&d, "").unwrap().admin.metrics_token, None);
    }

    #[test]
    fn a_missing_file_names_the_key_and_the_path() {
        let d = dir("missing");
        let f = d.join("nowhere.token");
        let e = parse(
            &d,
            &format!("metrics_token_file = {:?}\n", f.to_str().unwrap()),
        )
        .unwrap_err();
        assert_eq!(
            e,
            format!(
                "{}: admin.metrics_token_file: cannot read {}: No such file or directory (os error 2)",
                d.join("desawifi.toml").display(),
                f.display()
            )
        );
        let e = parse(&d, "metrics_token_file = \" \"\n").unwrap_err();
        assert!(
            e.ends_with(
                "admin.metrics_token_file: must not be empty (try \"/etc/desawifi/metrics.token\")"
            ),
            "{e}"
        );
    }

    #[test]
    fn a_short_token_in_the_file_is_refused_without_showing_it() {
        let d = dir("short");
        let f = token_file(&d, "abc123xyz\n", 0o600);
        let e = parse(&d, "metrics_token_file = \"metrics.token\"\n").unwrap_err();
        assert!(
            e.contains(&format!(
                "admin.metrics_token_file: the token in {} is too weak (9 characters; at least 16 visible ASCII characters",
                f.display()
            )),
            "{e}"
        );
        assert!(
            !e.contains("abc123xyz"),
            "the token stays out of the message: {e}"
        );
        // A space inside is no bearer token either; an empty file is too short.
        token_file(&d, "0123456789 abcdef0123456789\n", 0o600);
        let e = parse(&d, "metrics_token_file = \"metrics.token\"\n").unwrap_err();
        assert!(e.contains("is too weak (27 characters"), "{e}");
        token_file(&d, "", 0o600);
        let e = parse(&d, "metrics_token_file = \"metrics.token\"\n").unwrap_err();
        assert!(e.contains("is too weak (0 characters"), "{e}");
        // The inline key keeps its own message.
        let e = parse(&d, "metrics_token = \"short\"\n").unwrap_err();
        assert!(
            e.ends_with("admin.metrics_token: \"short\" is too weak (at least 16 visible ASCII characters, e.g. from `openssl rand -hex 16`)"),
            "{e}"
        );
    }

    #[test]
    fn both_keys_are_refused() {
        let d = dir("both");
        token_file(&d, TOKEN, 0o600);
        let e = parse(
            &d,
            &format!("metrics_token = \"{TOKEN}\"\nmetrics_token_file = \"metrics.token\"\n"),
        )
        .unwrap_err();
        assert!(
            e.ends_with("admin.metrics_token_file: given with admin.metrics_token (set one of admin.metrics_token and admin.metrics_token_file, not both)"),
            "{e}"
        );
    }

    #[test]
    fn a_world_readable_file_is_refused_with_the_chmod_to_run() {
        let d = dir("loose");
        for mode in [0o644, 0o604, 0o666] {
            let f = token_file(&d, TOKEN, mode);
            let e = parse(&d, "metrics_token_file = \"metrics.token\"\n").unwrap_err();
            assert!(
                e.ends_with(&format!(
                    "admin.metrics_token_file: {} is readable by everyone (mode {mode:04o}; it holds a secret: run `chmod 600 {}`)",
                    f.display(),
                    f.display()
                )),
                "{e}"
            );
        }
    }
}
