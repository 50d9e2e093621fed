//! The receiver's push accounts: the `basic_auth_users` of the Prometheus
//! `--web.config.file` the office's config names (`[prometheus]
//! web_config_file`). Prometheus reads that file on every request, so an
//! account written here pushes (and one removed is refused, 401) at once,
//! without a restart (docs/office.md, on adding and retiring a village).
//!
//! The file is edited line by line, never re-serialised: its comments, its
//! `tls_server_config` and every other key stay byte for byte. Only the
//! plain block YAML such files are written in is understood (top-level
//! `key:` lines, `basic_auth_users` as an indented `name: hash` block or
//! `{}`); anything else (tabs, flow mappings, anchors, several documents)
//! is refused with the line named and nothing is written. The new text is
//! written to a temporary file beside it, synced, then renamed over it.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Why the web config file was not changed.
#[derive(Debug, thiserror::Error)]
pub enum ReceiverError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: line {line}: {message}; nothing was written", path.display())]
    Unparsable {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{}: the account {name:?} is there already; nothing was written", path.display())]
    Exists { path: PathBuf, name: String },
    #[error("bcrypt: {0}")]
    Hash(String),
}

const KEY: &str = "basic_auth_users";

/// Where `basic_auth_users` is in the file's lines.
struct Users {
    /// Its `basic_auth_users:` line (none: the key is absent).
    header: Option<usize>,
    /// `header` was `basic_auth_users: {}` (an empty flow mapping).
    empty_flow: bool,
    /// Its entries: line index, account name.
    entries: Vec<(usize, String)>,
    /// The entries' indentation (two spaces when there are none).
    indent: String,
}

fn unparsable(path: &Path, line: usize, message: &str) -> ReceiverError {
    ReceiverError::Unparsable {
        path: path.to_owned(),
        line: line + 1,
        message: message.to_owned(),
    }
}

/// Read the plain block YAML of a web config file: where the accounts are.
fn scan(path: &Path, lines: &[&str]) -> Result<Users, ReceiverError> {
    let mut users = Users {
        header: None,
        empty_flow: false,
        entries: Vec::new(),
        indent: "  ".to_owned(),
    };
    let mut inside = false;
    for (i, line) in lines.iter().enumerate() {
        if line.contains('\t') {
            return Err(unparsable(path, i, "a tab (YAML indents with spaces)"));
        }
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if i == 0 && trimmed == "---" {
            continue;
        }
        if trimmed == "---" || trimmed == "..." {
            return Err(unparsable(path, i, "a second YAML document"));
        }
        let top = !line.starts_with(' ');
        if top {
            inside = false;
            let Some((key, rest)) = line.split_once(':') else {
                return Err(unparsable(path, i, "not a `key:` line"));
            };
            if key.trim() != key
                || key.is_empty()
                || key.starts_with(['"', '\'', '{', '[', '&', '*', '-', '?'])
            {
                return Err(unparsable(path, i, "not a plain top-level key"));
            }
            if key == KEY {
                if users.header.is_some() {
                    return Err(unparsable(path, i, "basic_auth_users twice"));
                }
                users.header = Some(i);
                match strip_comment(rest).trim() {
                    "" => inside = true,
                    "{}" => users.empty_flow = true,
                    _ => {
                        return Err(unparsable(
                            path,
                            i,
                            "basic_auth_users is not a block of `name: hash` lines",
                        ))
                    }
                }
            }
            continue;
        }
        if !inside {
            continue;
        }
        let indent = &line[..line.len() - line.trim_start().len()];
        let Some((name, hash)) = trimmed.split_once(':') else {
            return Err(unparsable(path, i, "not a `name: hash` line"));
        };
        let name = unquote(name.trim());
        let hash = strip_comment(hash).trim();
        if name.is_empty() || hash.is_empty() || !plain_name(name) {
            return Err(unparsable(path, i, "not a `name: hash` line"));
        }
        if users.entries.is_empty() {
            users.indent = indent.to_owned();
        } else if indent != users.indent {
            return Err(unparsable(
                path,
                i,
                "basic_auth_users entries indented unevenly",
            ));
        }
        users.entries.push((i, name.to_owned()));
    }
    Ok(users)
}

fn strip_comment(s: &str) -> &str {
    match s.find(" #") {
        Some(at) => &s[..at],
        None => s,
    }
}

fn unquote(s: &str) -> &str {
    for q in ['"', '\''] {
        if let Some(inner) = s.strip_prefix(q).and_then(|s| s.strip_suffix(q)) {
            return inner;
        }
    }
    s
}

/// Account names this office writes: `[a-z0-9-]`, as [`super::registry::slug`] makes them.
fn plain_name(name: &str) -> bool {
    name.bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'@'))
}

/// `text` with the account `name: hash` added.
pub fn with_user(path: &Path, text: &str, name: &str, hash: &str) -> Result<String, ReceiverError> {
    let lines: Vec<&str> = text.lines().collect();
    let users = scan(path, &lines)?;
    if users.entries.iter().any(|(_, n)| n == name) {
        return Err(ReceiverError::Exists {
            path: path.to_owned(),
            name: name.to_owned(),
        });
    }
    let entry = format!("{}{name}: {hash}", users.indent);
    let mut out: Vec<String> = lines.iter().map(|l| (*l).to_owned()).collect();
    match (users.header, users.entries.last()) {
        (None, _) => out.push(format!("{KEY}:\n{entry}")),
        (Some(h), _) if users.empty_flow => out[h] = format!("{KEY}:\n{entry}"),
        (Some(_), Some((last, _))) => out.insert(last + 1, entry),
        (Some(h), None) => out.insert(h + 1, entry),
    }
    Ok(out.join("\n") + "\n")
}

/// `text` without the account `name` (the same text when it is not there).
pub fn without_user(path: &Path, text: &str, name: &str) -> Result<String, ReceiverError> {
    let lines: Vec<&str> = text.lines().collect();
    let users = scan(path, &lines)?;
    let drop: Vec<usize> = users
        .entries
        .iter()
        .filter(|(_, n)| n == name)
        .map(|(i, _)| *i)
        .collect();
    let out: Vec<&str> = lines
        .iter()
        .enumerate()
        .filter(|(i, _)| !drop.contains(i))
        .map(|(_, l)| *l)
        .collect();
    Ok(out.join("\n") + "\n")
}

/// The account names in the file.
pub fn users(path: &Path) -> Result<Vec<String>, ReceiverError> {
    let text = read(path)?;
    let lines: Vec<&str> = text.lines().collect();
    Ok(scan(path, &lines)?
        .entries
        .into_iter()
        .map(|(_, n)| n)
        .collect())
}

/// The bcrypt hash (cost 10, as `htpasswd -nBC 10`) of `password` with a random salt.
pub fn hash(password: &str) -> Result<String, ReceiverError> {
    let mut salt = [0u8; 16];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut salt)
        .map_err(|_| ReceiverError::Hash("no randomness".into()))?;
    bcrypt::hash_with_salt(password, 10, salt)
        .map(|h| h.format_for_version(bcrypt::Version::TwoB))
        .map_err(|e| ReceiverError::Hash(e.to_string()))
}

/// Add the account `name` with `password`'s bcrypt hash to the file at `path`.
pub fn add_user(path: &Path, name: &str, password: &str) -> Result<(), ReceiverError> {
    let text = read(path)?;
    let new = with_user(path, &text, name, &hash(password)?)?;
    write_atomically(path, &new)
}

/// Remove the account `name` from the file at `path` (nothing to do when it is not there).
pub fn remove_user(path: &Path, name: &str) -> Result<(), ReceiverError> {
    let text = read(path)?;
    let new = without_user(path, &text, name)?;
    if new == text {
        return Ok(());
    }
    write_atomically(path, &new)
}

fn read(path: &Path) -> Result<String, ReceiverError> {
    std::fs::read_to_string(path).map_err(|source| ReceiverError::Io {
        path: path.to_owned(),
        source,
    })
}

/// A temporary file beside `path` (same mode), synced, renamed over it.
fn write_atomically(path: &Path, text: &str) -> Result<(), ReceiverError> {
    let io = |source| ReceiverError::Io {
        path: path.to_owned(),
        source,
    };
    let mode = std::fs::metadata(path).map_err(io)?.permissions();
    let mut tmp_name = path.file_name().unwrap_or_default().to_owned();
    tmp_name.push(".desawifi-tmp");
    let tmp = path.with_file_name(tmp_name);
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.set_permissions(mode)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "# the receiver\ntls_server_config:\n  cert_file: /etc/p/c.crt\n  key_file: /etc/p/c.key   # keep\n  min_version: TLS12\nbasic_auth_users:\n  grafana: $2b$10$abc\n  sumber-sari: $2b$10$def\nhttp_server_config:\n  http2: false\n";

    fn p() -> &'static Path {
        Path::new("web.yml")
    }

    #[test]
    fn adds_after_the_last_account_and_keeps_the_rest() {
        let out = with_user(p(), FILE, "long-kali-baru", "$2b$10$xyz").unwrap();
        assert_eq!(
            out,
            FILE.replace(
                "  sumber-sari: $2b$10$def\n",
                "  sumber-sari: $2b$10$def\n  long-kali-baru: $2b$10$xyz\n"
            )
        );
        let back = without_user(p(), &out, "long-kali-baru").unwrap();
        assert_eq!(back, FILE);
        assert!(matches!(
            with_user(p(), FILE, "grafana", "h"),
            Err(ReceiverError::Exists { .. })
        ));
    }

    #[test]
    fn no_accounts_yet() {
        let tls = "tls_server_config:\n  cert_file: c\n";
        assert_eq!(
            with_user(p(), tls, "a", "h").unwrap(),
            format!("{tls}basic_auth_users:\n  a: h\n")
        );
        let flow = "basic_auth_users: {}\ntls_server_config:\n  cert_file: c\n";
        assert_eq!(
            with_user(p(), flow, "a", "h").unwrap(),
            "basic_auth_users:\n  a: h\ntls_server_config:\n  cert_file: c\n"
        );
    }

    #[test]
    fn what_it_cannot_read_it_refuses() {
        for (bad, line) in [
            ("basic_auth_users: {a: b}\n", 1),
            ("basic_auth_users:\n\ta: b\n", 2),
            ("tls_server_config:\n  cert_file: c\n---\nx: 1\n", 3),
            ("basic_auth_users:\n  a: b\n    c: d\n", 3),
            ("{basic_auth_users: {}}\n", 1),
            ("basic_auth_users:\n  - a\n", 2),
        ] {
            match with_user(p(), bad, "n", "h") {
                Err(ReceiverError::Unparsable { line: l, .. }) => assert_eq!(l, line, "{bad:?}"),
                other => panic!("{bad:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn the_file_is_replaced_whole_and_keeps_its_mode() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("dw-receiver-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("web.yml");
        std::fs::write(&path, FILE).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        add_user(&path, "long-kali-baru", "rahasia").unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let hash = text
            .lines()
            .find_map(|l| l.strip_prefix("  long-kali-baru: "))
            .unwrap();
        assert!(hash.starts_with("$2b$10$") && bcrypt::verify("rahasia", hash).unwrap());
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
        assert_eq!(
            users(&path).unwrap(),
            ["grafana", "sumber-sari", "long-kali-baru"]
        );
        remove_user(&path, "long-kali-baru").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), FILE);
        std::fs::write(&path, "basic_auth_users: [x]\n").unwrap();
        assert!(add_user(&path, "a", "b").is_err());
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "basic_auth_users: [x]\n"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
