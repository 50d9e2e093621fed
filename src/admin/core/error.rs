//! The admin room's errors: [`OpError`] for a request (one variant per
//! answer, mapped to its HTTP status in one place, [`OpError::status`];
//! innernet's `ServerError`), [`AdminError`] outside a request (start-up,
//! the CLI).

use hyper::StatusCode;

use crate::accounts::AccountError;
use crate::gateway::GatewayError;
use crate::store::StoreError;

/// Why an operation did not happen (each variant is one status).
#[derive(Debug, thiserror::Error)]
pub enum OpError {
    /// The input is wrong; `field` names the key (400).
    #[error("{field}: {message}")]
    BadInput { field: String, message: String },
    /// The account may not do this (a viewer changing something; 403).
    #[error("this account may only read")]
    Forbidden,
    /// Nothing to act on (404), e.g. a device never seen.
    #[error("{0}")]
    NotFound(String),
    /// The gateway (its store or the firewall) failed (500; the cause chain is logged, see [`OpError::chain`]).
    #[error("the gateway failed")]
    Gateway(#[source] GatewayError),
    /// The admin's own trees of the store (audit log) failed (500).
    #[error("the admin store failed")]
    Store(#[source] StoreError),
    /// Something else that is not the client's fault (500), with what it was.
    #[error("{0}")]
    Internal(String),
}

impl OpError {
    /// A 400 naming the field the client sent.
    pub fn bad(field: &str, message: impl Into<String>) -> OpError {
        OpError::BadInput {
            field: field.to_owned(),
            message: message.into(),
        }
    }

    /// The answer's status: the one mapping the API and the console share.
    pub fn status(&self) -> StatusCode {
        match self {
            OpError::BadInput { .. } => StatusCode::BAD_REQUEST,
            OpError::Forbidden => StatusCode::FORBIDDEN,
            OpError::NotFound(_) => StatusCode::NOT_FOUND,
            OpError::Gateway(_) | OpError::Store(_) | OpError::Internal(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }

    /// The error and its causes, `outer: inner: ...`, for the log.
    pub fn chain(&self) -> String {
        let mut out = self.to_string();
        let mut cause = std::error::Error::source(self);
        while let Some(e) = cause {
            out.push_str(": ");
            out.push_str(&e.to_string());
            cause = e.source();
        }
        out
    }
}

impl From<GatewayError> for OpError {
    fn from(e: GatewayError) -> OpError {
        OpError::Gateway(e)
    }
}

impl From<StoreError> for OpError {
    fn from(e: StoreError) -> OpError {
        OpError::Store(e)
    }
}

/// What can go wrong in the admin room outside a request (start-up, the CLI).
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The admin certificate or key could not be read, made or used.
    #[error("admin TLS: {path}: {message}")]
    Tls {
        path: std::path::PathBuf,
        message: String,
    },
    /// The control socket could not be served, reached or understood.
    #[error("control socket {path}: {message}")]
    Control {
        path: std::path::PathBuf,
        message: String,
    },
    /// An account change was refused or failed.
    #[error(transparent)]
    Account(#[from] AccountError),
    /// The store failed (or is held by a daemon that does not answer).
    #[error(transparent)]
    Store(#[from] StoreError),
}
