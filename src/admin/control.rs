//! The control socket: `<store>/control.sock`, a root-only Unix socket the
//! daemon serves so `desawifi user ...` works while it runs (sled lets one
//! process at a time open the store). One JSON request line in, one JSON
//! response line out, then the connection closes:
//!
//! ```text
//! {"op":"add","username":"ani","role":"admin","password":"..."}   -> {"ok":true}
//! {"op":"passwd","username":"ani","password":"..."}               -> {"ok":true}
//! {"op":"remove","username":"ani"}                                -> {"ok":true}
//! {"op":"list"}                             -> {"ok":true,"users":[{"username","role","created"}]}
//! anything refused                          -> {"ok":false,"error":"user \"ani\" already exists"}
//! ```
//!
//! Only root (or the daemon's own user) may connect: the socket is mode 0600
//! and the peer's credentials are checked too. When nothing listens, the
//! command opens the store itself ([`run`]).

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use super::core::AdminError;
use crate::accounts::{Accounts, UserInfo};
use crate::clock::SystemClock;
use crate::config::Config;
use crate::domain::Role;
use crate::store::AdminStore;

/// The socket's file name in the store directory.
pub const SOCKET: &str = "control.sock";

/// Longest request line (a password is at most 1024 characters).
const MAX_REQUEST: u64 = 16 * 1024;

/// How long a client may take to send its request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the command waits for the daemon's answer (a hash may queue behind logins).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(60);

/// `<store.path>/control.sock`.
pub fn socket_path(config: &Config) -> PathBuf {
    config.store.path.join(SOCKET)
}

/// What the `desawifi user` command asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase", deny_unknown_fields)]
pub enum Request {
    Add {
        username: String,
        role: Role,
        password: String,
    },
    Passwd {
        username: String,
        password: String,
    },
    Remove {
        username: String,
    },
    List,
}

/// The answer: `ok`, and the users for `list` or the reason for a refusal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response {
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub users: Option<Vec<UserInfo>>,
}

impl Response {
    fn ok() -> Response {
        Response {
            ok: true,
            error: None,
            users: None,
        }
    }

    fn error(message: impl ToString) -> Response {
        Response {
            ok: false,
            error: Some(message.to_string()),
            users: None,
        }
    }
}

/// Serve the socket until `cancel`; the file is removed on the way out.
pub async fn serve(path: PathBuf, accounts: Accounts, cancel: CancellationToken) {
    let listener = match bind(&path) {
        Ok(l) => l,
        Err(e) => {
            error!(error = %e, "control socket not served: `desawifi user` cannot reach this daemon");
            return;
        }
    };
    // Root, or whoever runs the daemon (tests), may connect.
    let owner = std::fs::metadata(&path).map(|m| m.uid()).unwrap_or(0);
    info!(path = %path.display(), "control socket listening");
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let accounts = accounts.clone();
                    let cancel = cancel.clone();
                    tokio::spawn(async move {
                        tokio::select! {
                            _ = cancel.cancelled() => {}
                            _ = connection(stream, accounts, owner) => {}
                        }
                    });
                }
                Err(e) => {
                    warn!(error = %e, "control socket accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
        }
    }
    let _ = std::fs::remove_file(&path);
}

/// Bind, replacing a stale socket file (from a killed daemon), mode 0600.
fn bind(path: &Path) -> Result<UnixListener, AdminError> {
    let control_error = |message: String| AdminError::Control {
        path: path.to_owned(),
        message,
    };
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_dir() => return Err(control_error("is a directory".into())),
        Ok(_) => std::fs::remove_file(path)
            .map_err(|e| control_error(format!("cannot remove the stale socket: {e}")))?,
        Err(_) => {}
    }
    let listener =
        UnixListener::bind(path).map_err(|e| control_error(format!("cannot listen: {e}")))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| control_error(format!("cannot chmod 0600: {e}")))?;
    Ok(listener)
}

async fn connection(stream: UnixStream, accounts: Accounts, owner: u32) {
    match stream.peer_cred() {
        Ok(cred) if cred.uid() == 0 || cred.uid() == owner => {}
        Ok(cred) => {
            warn!(
                uid = cred.uid(),
                "control socket: refused a connection from an unprivileged user"
            );
            return;
        }
        Err(e) => {
            warn!(error = %e, "control socket: cannot read the peer's credentials");
            return;
        }
    }
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    let mut reader = BufReader::new(read).take(MAX_REQUEST);
    let response = match tokio::time::timeout(REQUEST_TIMEOUT, reader.read_line(&mut line)).await {
        Err(_) => Response::error("no request within 10 s"),
        Ok(Err(e)) => Response::error(format!("reading the request: {e}")),
        Ok(Ok(_)) if !line.ends_with('\n') => {
            Response::error("the request must be one line of at most 16 KiB")
        }
        Ok(Ok(_)) => match serde_json::from_str::<Request>(&line) {
            Err(e) => Response::error(format!("bad request: {e}")),
            Ok(request) => {
                debug!(op = request.op(), "control request");
                let accounts = accounts.clone();
                tokio::task::spawn_blocking(move || apply(&accounts, request))
                    .await
                    .unwrap_or_else(Response::error)
            }
        },
    };
    let mut out = serde_json::to_vec(&response).expect("responses serialize");
    out.push(b'\n');
    let _ = write.write_all(&out).await;
    let _ = write.shutdown().await;
}

impl Request {
    fn op(&self) -> &'static str {
        match self {
            Request::Add { .. } => "add",
            Request::Passwd { .. } => "passwd",
            Request::Remove { .. } => "remove",
            Request::List => "list",
        }
    }
}

/// Carry out one request (blocking: hashes passwords, flushes the store).
/// Changes are audited as made by `cli`.
pub fn apply(accounts: &Accounts, request: Request) -> Response {
    let result = match request {
        Request::Add {
            username,
            role,
            password,
        } => accounts
            .add_user(&username, role, &password, "cli")
            .map(|()| Response::ok()),
        Request::Passwd { username, password } => accounts
            .set_password(&username, &password, "cli")
            .map(|()| Response::ok()),
        Request::Remove { username } => accounts
            .remove_user(&username, "cli")
            .map(|()| Response::ok()),
        Request::List => accounts.users().map(|users| Response {
            users: Some(users),
            ..Response::ok()
        }),
    };
    result.unwrap_or_else(Response::error)
}

/// Ask the daemon; `Ok(None)` when no daemon listens (no socket, or a stale one).
pub async fn request(path: &Path, request: &Request) -> Result<Option<Response>, AdminError> {
    let control_error = |message: String| AdminError::Control {
        path: path.to_owned(),
        message,
    };
    let stream = match UnixStream::connect(path).await {
        Ok(s) => s,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            return Ok(None)
        }
        Err(e) => return Err(control_error(format!("cannot connect: {e} (run as root)"))),
    };
    let (read, mut write) = stream.into_split();
    let mut line = serde_json::to_vec(request).expect("requests serialize");
    line.push(b'\n');
    write
        .write_all(&line)
        .await
        .map_err(|e| control_error(format!("sending the request: {e}")))?;
    let mut answer = String::new();
    let mut reader = BufReader::new(read).take(4 << 20);
    match tokio::time::timeout(ANSWER_TIMEOUT, reader.read_line(&mut answer)).await {
        Err(_) => {
            return Err(control_error(
                "the daemon did not answer within 60 s".into(),
            ))
        }
        Ok(Err(e)) => return Err(control_error(format!("reading the answer: {e}"))),
        Ok(Ok(0)) => {
            return Err(control_error(
                "the daemon closed the connection without answering".into(),
            ))
        }
        Ok(Ok(_)) => {}
    }
    serde_json::from_str(&answer)
        .map(Some)
        .map_err(|e| control_error(format!("unreadable answer: {e}")))
}

/// How long `desawifi user ...` waits for a daemon that holds the store but
/// does not answer on its socket yet: one that is starting (it opens the store,
/// then binds its listeners, then the socket), as right after `systemctl start`.
const STARTING: Duration = Duration::from_secs(15);

/// What `desawifi user ...` does: through the running daemon's socket, or,
/// when none answers, on the store directly. The second value says which
/// (`true`: the daemon did it). While the store is locked and no socket
/// answers (a daemon starting), it asks again until [`STARTING`] has passed.
pub async fn run(config: &Config, req: Request) -> Result<(Response, bool), AdminError> {
    let socket = socket_path(config);
    let deadline = tokio::time::Instant::now() + STARTING;
    loop {
        if let Some(answer) = request(&socket, &req).await? {
            return Ok((answer, true));
        }
        let path = config.store.path.clone();
        let opened = tokio::task::spawn_blocking(move || AdminStore::open(&path))
            .await
            .map_err(|e| AdminError::Control {
                path: config.store.path.clone(),
                message: e.to_string(),
            })?;
        let store = match opened {
            Ok(store) => store,
            Err(e)
                if e.to_string().contains("could not acquire lock")
                    && tokio::time::Instant::now() < deadline =>
            {
                debug!("the store is locked and no daemon answers yet: waiting for it");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
            Err(e) => {
                return Err(AdminError::Control {
                    path: socket,
                    message: format!(
                        "no daemon answers here, and the store cannot be opened directly: {e}"
                    ),
                })
            }
        };
        let session_time = config.admin.session_time;
        let answer = tokio::task::spawn_blocking(move || -> Result<Response, AdminError> {
            let accounts = Accounts::new(store.clone(), session_time, Arc::new(SystemClock));
            let answer = apply(&accounts, req);
            store.flush_blocking()?;
            Ok(answer)
        })
        .await
        .map_err(|e| AdminError::Control {
            path: config.store.path.clone(),
            message: e.to_string(),
        })??;
        return Ok((answer, false));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accounts(name: &str) -> (Accounts, PathBuf) {
        let dir =
            std::env::temp_dir().join(format!("desawifi-control-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = AdminStore::open(&dir).unwrap();
        (
            Accounts::new(store, Duration::from_secs(60), Arc::new(SystemClock)),
            dir,
        )
    }

    #[tokio::test]
    async fn requests_over_the_socket() {
        let (accounts, dir) = accounts("socket");
        let path = dir.join(SOCKET);
        std::fs::write(&path, b"stale").unwrap();
        let cancel = CancellationToken::new();
        let server = tokio::spawn(serve(path.clone(), accounts.clone(), cancel.clone()));
        let mut tries = 0;
        while !std::fs::metadata(&path)
            .is_ok_and(|m| std::os::unix::fs::FileTypeExt::is_socket(&m.file_type()))
            && tries < 100
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
            tries += 1;
        }
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );

        let add = Request::Add {
            username: "ani".into(),
            role: Role::Admin,
            password: "kelapa-muda-1".into(),
        };
        assert_eq!(request(&path, &add).await.unwrap(), Some(Response::ok()));
        let again = request(&path, &add).await.unwrap().unwrap();
        assert_eq!(again.error.as_deref(), Some("user \"ani\" already exists"));
        let short = request(
            &path,
            &Request::Passwd {
                username: "ani".into(),
                password: "short".into(),
            },
        )
        .await
        .unwrap()
        .unwrap();
        assert_eq!(
            short.error.as_deref(),
            Some("password too short: use at least 10 characters")
        );
        let list = request(&path, &Request::List).await.unwrap().unwrap();
        assert_eq!(
            list.users
                .unwrap()
                .iter()
                .map(|u| (u.username.as_str(), u.role))
                .collect::<Vec<_>>(),
            vec![("ani", Role::Admin)]
        );
        assert!(accounts
            .login("ani", "kelapa-muda-1", "127.0.0.1".parse().unwrap())
            .await
            .is_ok());

        // Junk gets an error line, not a hang or a crash.
        let mut raw = UnixStream::connect(&path).await.unwrap();
        raw.write_all(b"{\"op\":\"explode\"}\n").await.unwrap();
        let mut answer = String::new();
        BufReader::new(raw).read_line(&mut answer).await.unwrap();
        let answer: Response = serde_json::from_str(&answer).unwrap();
        assert!(!answer.ok && answer.error.unwrap().starts_with("bad request"));

        cancel.cancel();
        server.await.unwrap();
        assert!(!path.exists(), "the socket file goes with the server");
        assert_eq!(
            request(&path, &Request::List).await.unwrap(),
            None,
            "nothing listens"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
