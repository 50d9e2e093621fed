//! Adding and retiring a village, the steps (blocking: bcrypt, the file,
//! the store; the server runs them on tokio's blocking pool). Adding
//! writes the push account into the receiver's web config file first, then
//! the office's store (the account is taken out again if the store fails);
//! retiring removes the account first, then marks the village retired (its
//! history stays). Nothing is half written (docs/office.md, on adding and
//! retiring a village).

use std::path::Path;
use std::sync::Arc;

use tracing::warn;

use super::receiver::{self, ReceiverError};
use super::registry::{Registered, VillageBook};
use crate::web::http::random_token;

/// Why a village was not added or retired.
#[derive(Debug)]
pub enum Refusal {
    /// Its slug is taken (also by a retired village).
    Taken,
    /// No such village, or retired already.
    Unknown,
    Receiver(ReceiverError),
    Store(String),
}

/// Add `village` (checked name, slug, who, when): its account with a fresh
/// password into `web_config`, then the store. The password, shown once.
pub fn add(
    book: &Arc<dyn VillageBook>,
    web_config: &Path,
    village: &Registered,
) -> Result<String, Refusal> {
    let taken = book
        .villages()
        .map_err(Refusal::Store)?
        .iter()
        .any(|r| r.slug == village.slug);
    if taken {
        return Err(Refusal::Taken);
    }
    let password = random_token()[..32].to_owned();
    receiver::add_user(web_config, &village.slug, &password).map_err(|e| match e {
        ReceiverError::Exists { .. } => Refusal::Taken,
        e => Refusal::Receiver(e),
    })?;
    if let Err(e) = book.add(village) {
        if let Err(undo) = receiver::remove_user(web_config, &village.slug) {
            warn!(error = %undo, slug = %village.slug, "could not take the push account out again");
        }
        return Err(Refusal::Store(e));
    }
    Ok(password)
}

/// Retire `slug`: its account out of `web_config` (when the office has
/// one), then marked retired by `who` at `at`.
pub fn retire(
    book: &Arc<dyn VillageBook>,
    web_config: Option<&Path>,
    slug: &str,
    who: &str,
    at: i64,
) -> Result<(), Refusal> {
    let known = book
        .villages()
        .map_err(Refusal::Store)?
        .into_iter()
        .any(|v| v.slug == slug && v.retired.is_none());
    if !known {
        return Err(Refusal::Unknown);
    }
    if let Some(path) = web_config {
        receiver::remove_user(path, slug).map_err(Refusal::Receiver)?;
    }
    book.retire(slug, who, at).map_err(Refusal::Store)
}
