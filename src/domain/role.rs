//! Admin account roles.

use serde::{Deserialize, Serialize};

/// What an account may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads everything, changes nothing (the province's monitoring staff).
    Viewer,
    /// Reads and changes (the regency's communications office).
    Admin,
}

impl Role {
    /// May this role change things?
    pub fn can_change(self) -> bool {
        self == Role::Admin
    }

    /// The role's name as the CLI, the API and the store spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Admin => "admin",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Role, String> {
        match s {
            "viewer" => Ok(Role::Viewer),
            "admin" => Ok(Role::Admin),
            _ => Err(format!("{s:?} is not a role (admin or viewer)")),
        }
    }
}
