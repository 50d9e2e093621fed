//! One small GET for the few documents a gateway fetches itself (the
//! regency's policy, https only) and the regency office's queries to its
//! Prometheus (https, or plain http to a store on the same machine, with an
//! `Authorization` header): hyper's HTTP/1 connection over tokio-rustls,
//! nothing pooled, no redirects, a deadline on each step and a cap on the
//! body. Trusts a given CA file or the system's roots; never a bundle
//! of its own (the binary goes on small routers).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt as _, Empty, Limited};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;

/// Where the system's CA roots are on Debian, OpenWrt (ca-bundle) and friends.
pub const SYSTEM_ROOTS: [&str; 3] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/ssl/cert.pem",
    "/etc/pki/tls/certs/ca-bundle.crt",
];

/// What a fetch may take, step by step.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// TCP connect.
    pub connect: Duration,
    /// TLS handshake.
    pub handshake: Duration,
    /// Request sent to the last byte of the body.
    pub response: Duration,
    /// The largest body accepted.
    pub max_body: usize,
}

/// Why a fetch did not give a document.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The CA file could not be read or held no certificate.
    #[error("CA file {}: {message}", path.display())]
    Roots { path: PathBuf, message: String },
    /// The host name did not resolve.
    #[error("cannot resolve {host}")]
    Resolve {
        host: String,
        #[source]
        source: std::io::Error,
    },
    /// No address of the host accepted a connection in time.
    #[error("cannot connect to {host}:{port}: {message}")]
    Connect {
        host: String,
        port: u16,
        message: String,
    },
    /// The TLS handshake failed: most often a certificate not signed by a
    /// trusted CA or not for this name (someone on the path, or a wrong ca_file).
    #[error("TLS with {host}: {message}")]
    Tls { host: String, message: String },
    /// The HTTP exchange failed or took too long.
    #[error("HTTP: {0}")]
    Http(String),
    /// The server answered, but not 200 (a redirect is not followed).
    #[error("HTTP status {0}")]
    Status(u16),
    /// The body was larger than allowed.
    #[error("the body is larger than {0} bytes")]
    TooLarge(usize),
}

/// The roots to trust: the certificates in `ca_file`, or the system's.
pub fn roots(ca_file: Option<&Path>) -> Result<rustls::RootCertStore, FetchError> {
    let files: Vec<&Path> = match ca_file {
        Some(p) => vec![p],
        None => SYSTEM_ROOTS
            .iter()
            .map(Path::new)
            .filter(|p| p.exists())
            .collect(),
    };
    let mut store = rustls::RootCertStore::empty();
    for path in &files {
        let err = |message: String| FetchError::Roots {
            path: path.to_path_buf(),
            message,
        };
        let pem = std::fs::read(path).map_err(|e| err(e.to_string()))?;
        for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
            let cert = cert.map_err(|e| err(e.to_string()))?;
            // A system bundle may hold a certificate rustls cannot use; skip it.
            let _ = store.add(cert);
        }
    }
    if store.is_empty() {
        return Err(FetchError::Roots {
            path: files
                .first()
                .map_or_else(|| PathBuf::from(SYSTEM_ROOTS[0]), |p| p.to_path_buf()),
            message: "no CA certificate found".into(),
        });
    }
    Ok(store)
}

/// A TLS client configuration trusting `roots` (ring, TLS 1.2 and 1.3).
pub fn client_config(roots: rustls::RootCertStore) -> Arc<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(config)
}

/// `GET https://host:port/path` -> the body of a 200 answer.
pub async fn get(
    tls: Arc<rustls::ClientConfig>,
    host: &str,
    port: u16,
    path: &str,
    limits: Limits,
) -> Result<Bytes, FetchError> {
    let (status, body) = fetch(Some(tls), host, port, path, None, limits).await?;
    if status != 200 {
        return Err(FetchError::Status(status));
    }
    Ok(body)
}

/// `GET path` on `host:port` over TLS trusting `tls`, or plain HTTP when
/// `tls` is `None` (a store on the same machine), with an `Authorization`
/// header when given -> the status and the (capped) body, whatever the
/// status: an API's error document is in a 4xx/5xx body. Redirects are
/// answers like any other (not followed).
pub async fn fetch(
    tls: Option<Arc<rustls::ClientConfig>>,
    host: &str,
    port: u16,
    path: &str,
    authorization: Option<&str>,
    limits: Limits,
) -> Result<(u16, Bytes), FetchError> {
    let resolve_err = |source| FetchError::Resolve {
        host: host.to_owned(),
        source,
    };
    let addrs: Vec<SocketAddr> =
        tokio::time::timeout(limits.connect, tokio::net::lookup_host((host, port)))
            .await
            .map_err(|_| resolve_err(std::io::Error::from(std::io::ErrorKind::TimedOut)))?
            .map_err(resolve_err)?
            .collect();
    let mut last = String::from("no address");
    let mut stream = None;
    for addr in addrs {
        match tokio::time::timeout(limits.connect, tokio::net::TcpStream::connect(addr)).await {
            Ok(Ok(s)) => {
                stream = Some(s);
                break;
            }
            Ok(Err(e)) => last = format!("{addr}: {e}"),
            Err(_) => last = format!("{addr}: no answer within {:?}", limits.connect),
        }
    }
    let stream = stream.ok_or_else(|| FetchError::Connect {
        host: host.to_owned(),
        port,
        message: last,
    })?;
    let Some(tls) = tls else {
        return exchange(
            TokioIo::new(stream),
            host,
            port,
            path,
            authorization,
            limits,
        )
        .await;
    };
    let name =
        rustls::pki_types::ServerName::try_from(host.to_owned()).map_err(|e| FetchError::Tls {
            host: host.to_owned(),
            message: e.to_string(),
        })?;
    let tls_err = |message: String| FetchError::Tls {
        host: host.to_owned(),
        message,
    };
    let stream = tokio::time::timeout(
        limits.handshake,
        tokio_rustls::TlsConnector::from(tls).connect(name, stream),
    )
    .await
    .map_err(|_| tls_err(format!("no handshake within {:?}", limits.handshake)))?
    .map_err(|e| tls_err(e.to_string()))?;
    exchange(
        TokioIo::new(stream),
        host,
        port,
        path,
        authorization,
        limits,
    )
    .await
}

/// One HTTP/1 request on an open connection, within `limits.response`.
async fn exchange<T>(
    io: TokioIo<T>,
    host: &str,
    port: u16,
    path: &str,
    authorization: Option<&str>,
    limits: Limits,
) -> Result<(u16, Bytes), FetchError>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let exchange = async {
        let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
            .await
            .map_err(|e| FetchError::Http(e.to_string()))?;
        // The connection runs in its own task, ended with the exchange
        // (also on a timeout: the guard aborts it when dropped).
        let _conn = AbortOnDrop(tokio::spawn(async move {
            let _ = conn.await;
        }));
        let mut request = hyper::Request::get(path)
            .header(hyper::header::HOST, authority(host, port))
            .header(
                hyper::header::USER_AGENT,
                concat!("desawifi/", env!("CARGO_PKG_VERSION")),
            );
        if let Some(value) = authorization {
            request = request.header(hyper::header::AUTHORIZATION, value);
        }
        let request = request
            .body(Empty::<Bytes>::new())
            .map_err(|e| FetchError::Http(e.to_string()))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| FetchError::Http(e.to_string()))?;
        let status = response.status().as_u16();
        if response
            .headers()
            .get(hyper::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok())
            .is_some_and(|n| n > limits.max_body)
        {
            return Err(too_large(status, limits.max_body));
        }
        let body = Limited::new(response.into_body(), limits.max_body)
            .collect()
            .await
            .map(|b| b.to_bytes())
            .map_err(|e| {
                if e.is::<http_body_util::LengthLimitError>() {
                    too_large(status, limits.max_body)
                } else {
                    FetchError::Http(e.to_string())
                }
            })?;
        Ok((status, body))
    };
    tokio::time::timeout(limits.response, exchange)
        .await
        .map_err(|_| FetchError::Http(format!("no whole answer within {:?}", limits.response)))?
}

/// An answer over the cap: its status when not 200 (what went wrong is the
/// status, not the size of the page saying so), else `TooLarge`.
fn too_large(status: u16, max: usize) -> FetchError {
    if status == 200 {
        FetchError::TooLarge(max)
    } else {
        FetchError::Status(status)
    }
}

/// Aborts the connection's task when the fetch ends, however it ends.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The `Host` header: the port only when it is not 443.
fn authority(host: &str, port: u16) -> String {
    if port == 443 {
        host.to_owned()
    } else {
        format!("{host}:{port}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    struct Pair {
        dir: PathBuf,
        cert: PathBuf,
        key: PathBuf,
    }

    impl Drop for Pair {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    /// A self-signed certificate for `name` in PEM files.
    fn pair(tag: &str, name: &str) -> Pair {
        let dir =
            std::env::temp_dir().join(format!("desawifi-client-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ck = rcgen::generate_simple_self_signed(vec![name.to_owned()]).unwrap();
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        std::fs::write(&cert, ck.cert.pem()).unwrap();
        std::fs::write(&key, ck.key_pair.serialize_pem()).unwrap();
        Pair { dir, cert, key }
    }

    /// A TLS server on 127.0.0.1 answering every connection with `answer`
    /// (or never handshaking when `None`).
    async fn server(p: &Pair, answer: Option<Vec<u8>>) -> u16 {
        let tls = crate::web::tls::acceptor(&p.cert, &p.key).unwrap().acceptor;
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        tokio::spawn(async move {
            loop {
                let Ok((s, _)) = l.accept().await else { return };
                let (tls, answer) = (tls.clone(), answer.clone());
                tokio::spawn(async move {
                    let Some(answer) = answer else {
                        tokio::time::sleep(Duration::from_secs(30)).await;
                        drop(s);
                        return;
                    };
                    let Ok(mut s) = tls.accept(s).await else {
                        return;
                    };
                    let mut head = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match s.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    let _ = s.write_all(&answer).await;
                    let _ = s.shutdown().await;
                });
            }
        });
        port
    }

    const LIMITS: Limits = Limits {
        connect: Duration::from_secs(2),
        handshake: Duration::from_secs(1),
        response: Duration::from_secs(2),
        max_body: 1000,
    };

    fn trusting(p: &Pair) -> Arc<rustls::ClientConfig> {
        client_config(roots(Some(&p.cert)).unwrap())
    }

    fn ok(body: &str) -> Vec<u8> {
        format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    }

    #[tokio::test]
    async fn a_trusted_server_gives_its_body() {
        let p = pair("ok", "localhost");
        let port = server(&p, Some(ok("version = 1\n"))).await;
        let body = get(trusting(&p), "localhost", port, "/policy.toml", LIMITS)
            .await
            .unwrap();
        assert_eq!(&body[..], b"version = 1\n");
    }

    #[tokio::test]
    async fn someone_else_on_the_path_is_refused() {
        // The right name, but a certificate the client's CA did not sign.
        let real = pair("real", "localhost");
        let attacker = pair("attacker", "localhost");
        let port = server(&attacker, Some(ok("version = 99\n"))).await;
        let e = get(trusting(&real), "localhost", port, "/p", LIMITS)
            .await
            .unwrap_err();
        assert!(matches!(e, FetchError::Tls { .. }), "{e}");
        // A certificate for another name, trusted or not.
        let other = pair("other", "other.example");
        let port = server(&other, Some(ok("x"))).await;
        let e = get(trusting(&other), "localhost", port, "/p", LIMITS)
            .await
            .unwrap_err();
        assert!(matches!(e, FetchError::Tls { .. }), "{e}");
    }

    #[tokio::test]
    async fn redirects_are_not_followed_and_big_bodies_are_cut() {
        let p = pair("redirect", "localhost");
        let port = server(&p, Some(b"HTTP/1.1 302 Found\r\nLocation: https://evil.example/p\r\nContent-Length: 0\r\n\r\n".to_vec())).await;
        let e = get(trusting(&p), "localhost", port, "/p", LIMITS)
            .await
            .unwrap_err();
        assert!(matches!(e, FetchError::Status(302)), "{e}");
        // A Content-Length over the cap, and a chunked body growing past it.
        let port = server(&p, Some(ok(&"x".repeat(1001)))).await;
        let e = get(trusting(&p), "localhost", port, "/p", LIMITS)
            .await
            .unwrap_err();
        assert!(matches!(e, FetchError::TooLarge(1000)), "{e}");
        let chunk = "x".repeat(600);
        let chunked = format!("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n258\r\n{chunk}\r\n258\r\n{chunk}\r\n0\r\n\r\n");
        let port = server(&p, Some(chunked.into_bytes())).await;
        let e = get(trusting(&p), "localhost", port, "/p", LIMITS)
            .await
            .unwrap_err();
        assert!(matches!(e, FetchError::TooLarge(1000)), "{e}");
    }

    #[tokio::test]
    async fn a_server_that_never_answers_times_out() {
        let p = pair("silent", "localhost");
        let port = server(&p, None).await;
        let started = std::time::Instant::now();
        let e = get(trusting(&p), "localhost", port, "/p", LIMITS)
            .await
            .unwrap_err();
        assert!(
            matches!(e, FetchError::Tls { .. }) && e.to_string().contains("no handshake"),
            "{e}"
        );
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[tokio::test]
    async fn plain_http_sends_the_authorization_and_gives_any_status_with_its_body() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let seen = tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let mut head = Vec::new();
            let mut buf = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = s.read(&mut buf).await.unwrap();
                head.extend_from_slice(&buf[..n]);
            }
            let body = r#"{"status":"error"}"#;
            let answer = format!("HTTP/1.1 422 Unprocessable Entity\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
            s.write_all(answer.as_bytes()).await.unwrap();
            String::from_utf8(head).unwrap()
        });
        let (status, body) = fetch(
            None,
            "127.0.0.1",
            port,
            "/api/v1/query?query=up",
            Some("Bearer t0ken"),
            LIMITS,
        )
        .await
        .unwrap();
        assert_eq!((status, &body[..]), (422, &br#"{"status":"error"}"#[..]));
        let head = seen.await.unwrap().to_ascii_lowercase();
        assert!(
            head.starts_with("get /api/v1/query?query=up http/1.1\r\n"),
            "{head}"
        );
        assert!(head.contains("authorization: bearer t0ken\r\n"), "{head}");
    }

    #[test]
    fn a_ca_file_without_certificates_is_an_error() {
        let p = pair("empty", "localhost");
        std::fs::write(&p.cert, "nothing here\n").unwrap();
        assert!(matches!(
            roots(Some(&p.cert)),
            Err(FetchError::Roots { .. })
        ));
        assert!(matches!(
            roots(Some(Path::new("/nonexistent/ca.pem"))),
            Err(FetchError::Roots { .. })
        ));
    }
}
