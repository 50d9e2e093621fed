//! One small HTTPS GET for the few documents a gateway fetches itself (the
//! regency's policy): hyper's HTTP/1 connection over tokio-rustls, nothing
//! pooled, no redirects, https only, a deadline on each step and a cap on
//! the body. Trusts a given CA file or the system's roots; never a bundle
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
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|source| FetchError::Resolve {
            host: host.to_owned(),
            source,
        })?
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
    let exchange = async {
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| FetchError::Http(e.to_string()))?;
        // The connection runs in its own task, ended with the exchange
        // (also on a timeout: the guard aborts it when dropped).
        let _conn = AbortOnDrop(tokio::spawn(async move {
            let _ = conn.await;
        }));
        let request = hyper::Request::get(path)
            .header(hyper::header::HOST, authority(host, port))
            .header(
                hyper::header::USER_AGENT,
                concat!("desawifi/", env!("CARGO_PKG_VERSION")),
            )
            .body(Empty::<Bytes>::new())
            .map_err(|e| FetchError::Http(e.to_string()))?;
        let answer = async {
            let response = sender
                .send_request(request)
                .await
                .map_err(|e| FetchError::Http(e.to_string()))?;
            let status = response.status();
            if status != hyper::StatusCode::OK {
                return Err(FetchError::Status(status.as_u16()));
            }
            if response
                .headers()
                .get(hyper::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<usize>().ok())
                .is_some_and(|n| n > limits.max_body)
            {
                return Err(FetchError::TooLarge(limits.max_body));
            }
            Limited::new(response.into_body(), limits.max_body)
                .collect()
                .await
                .map(|b| b.to_bytes())
                .map_err(|e| {
                    if e.is::<http_body_util::LengthLimitError>() {
                        FetchError::TooLarge(limits.max_body)
                    } else {
                        FetchError::Http(e.to_string())
                    }
                })
        };
        answer.await
    };
    tokio::time::timeout(limits.response, exchange)
        .await
        .map_err(|_| FetchError::Http(format!("no whole answer within {:?}", limits.response)))?
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
